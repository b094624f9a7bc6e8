"""`dockyard init`: look at a repository and write a commented starter dockyard.yml.

Looking (`inspect_repo`) is thin I/O; writing the text (`render`) is pure, so each kind
of repository is easy to test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dockyard import __version__
from dockyard.context import Context

_DOCKERFILE_CANDIDATES = ("Dockerfile", "docker/Dockerfile", "build/Dockerfile",
                          "Containerfile")


@dataclass(frozen=True)
class RepoFacts:
    name: str  # the image's last path part
    platform: str  # "github", "gitlab" or "other"
    host: str | None  # the remote's host, e.g. github.com
    owner_path: str | None  # "owner/name" (GitLab: "group/sub/project")
    dockerfile: str | None  # relative to the repository root
    ci_files: tuple[str, ...]  # CI configuration files found


def inspect_repo(workdir: Path, context: Context) -> RepoFacts:
    dockerfile = next((c for c in _DOCKERFILE_CANDIDATES if (workdir / c).is_file()), None)
    ci_files = [str(p.relative_to(workdir)) for p in sorted(workdir.glob(".github/workflows/*"))
                if p.suffix in (".yml", ".yaml")]
    ci_files += [name for name in (".gitlab-ci.yml", "Jenkinsfile") if (workdir / name).is_file()]
    host = urlsplit(context.repo_url).hostname if context.repo_url else None
    platform = "other"
    if host == "github.com" or (host is None and any(f.startswith(".github") for f in ci_files)):
        platform = "github"
    elif (host and "gitlab" in host) or ".gitlab-ci.yml" in ci_files:
        platform = "gitlab"
    repository = context.repository
    base = repository.rsplit("/", 1)[-1] if repository else workdir.name
    return RepoFacts(name=_image_part(base), platform=platform, host=host,
                     owner_path=repository.lower() if repository else None,
                     dockerfile=dockerfile, ci_files=tuple(ci_files))


def describe(facts: RepoFacts) -> str:
    """Where the starter puts the image, and why, for `init` to say."""
    if facts.platform == "github":
        return "the image goes to GHCR, for a repository on GitHub"
    if facts.platform == "gitlab":
        return "the image goes to the project's GitLab registry"
    return ("no GitHub or GitLab remote found: the image name registry.example.com/... is a "
            "placeholder, put your registry there")


def _image_part(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "app"


def render(facts: RepoFacts) -> str:
    """The starter dockyard.yml for this repository."""
    if facts.platform == "github":
        image = f"ghcr.io/{facts.owner_path or 'OWNER/' + facts.name}"
        images = f"  - {image}"
        registries = (
            "registries:\n"
            "  ghcr.io:\n"
            "    # Set by GitHub Actions (give the job `permissions: packages: write`).\n"
            "    # Locally: leave them unset and `docker login ghcr.io` instead.\n"
            "    username: ${GITHUB_ACTOR:-}\n"
            "    password: ${GITHUB_TOKEN:-}\n")
    elif facts.platform == "gitlab":
        host = facts.host or "gitlab.com"
        fallback = f"registry.{host}/{facts.owner_path or 'GROUP/' + facts.name}"
        images = f'  - "${{CI_REGISTRY_IMAGE:-{fallback}}}"'
        registries = (
            "registries:\n"
            f'  "${{CI_REGISTRY:-registry.{host}}}":\n'
            "    # Set by GitLab CI for every job. Locally: leave them unset and\n"
            f"    # `docker login registry.{host}` instead.\n"
            "    username: ${CI_REGISTRY_USER:-}\n"
            "    password: ${CI_REGISTRY_PASSWORD:-}\n")
    else:
        images = f"  - registry.example.com/{facts.owner_path or 'team/' + facts.name}"
        registries = (
            "# Credentials per registry host; a host without an entry uses `docker login`.\n"
            "# registries:\n"
            "#   registry.example.com:\n"
            "#     username: ${REGISTRY_USER}\n"
            "#     password: ${REGISTRY_PASSWORD}\n")
    build = ""
    if facts.dockerfile and facts.dockerfile != "Dockerfile":
        build = f"build:\n  context: .\n  dockerfile: {facts.dockerfile}\n"
    return (
        "# dockyard.yml: what to build, how to tag it, where to push it.\n"
        "# Reference: docs/configuration.md; check it with `dockyard plan`.\n"
        "# Editor completion: `dockyard schema > dockyard.schema.json`, then add the line\n"
        "# `# yaml-language-server: $schema=dockyard.schema.json` at the top of this file.\n"
        "\n"
        "# Image names without a tag; one build is pushed to each.\n"
        "images:\n"
        f"{images}\n"
        "\n"
        "# docker/metadata-action's rule syntax: paste yours unchanged.\n"
        "tags:\n"
        "  - type=semver,pattern={{version}}         # v1.2.3 -> 1.2.3\n"
        "  - type=semver,pattern={{major}}.{{minor}} # v1.2.3 -> 1.2 (moves with releases)\n"
        "  - type=ref,event=branch                   # main -> main\n"
        "  - type=ref,event=pr                       # pull request 12 -> pr-12\n"
        "  - type=sha                                # sha-1a2b3c4\n"
        "\n"
        f"{build}"
        f"{registries}"
    )


# actions/checkout by commit, as zizmor asks of every action but Dockyard's own.
CHECKOUT_ACTION = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2"


def ci_snippet(facts: RepoFacts) -> str:
    """What to add to the CI configuration, for the platform found: each pins this release."""
    release = f"v{__version__}"
    if facts.platform == "github":
        return (
            "# .github/workflows/image.yml\n"
            "on: {push: {branches: [main], tags: ['v*']}, pull_request: {}}\n"
            "permissions: {}\n"
            "jobs:\n"
            "  image:\n"
            "    runs-on: ubuntu-latest\n"
            "    permissions: {contents: read, packages: write}\n"
            "    steps:\n"
            f"      - uses: {CHECKOUT_ACTION}\n"
            "        with: {fetch-depth: 0, persist-credentials: false}\n"
            f"      - uses: dockyard-ci/dockyard@{release}\n"
            "        with:\n"
            "          push: ${{ github.event_name != 'pull_request' }}\n"
            "        env:\n"
            "          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n")
    if facts.platform == "gitlab":
        return (
            "# .gitlab-ci.yml\n"
            "include:\n"
            f"  - remote: https://raw.githubusercontent.com/dockyard-ci/dockyard/{release}/"
            ".gitlab-ci-template.yml\n"
            "variables:\n"
            '  DOCKYARD_ENABLED: "true"\n')
    return (
        "# Any CI with Docker and Python >= 3.10:\n"
        f"pip install 'dockyard=={__version__}' && dockyard run\n"
        f"# or in Dockyard's own image: ghcr.io/dockyard-ci/dockyard:{__version__}\n"
        "# Jenkins: see docs/ci.md for the shared-library step `dockyard(...)`.\n")
