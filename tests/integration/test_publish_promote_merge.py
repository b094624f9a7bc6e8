"""`dockyard promote` and `dockyard merge` end to end, against real registries."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dockyard.cli import main
from dockyard.registry import OCI_INDEX, OCI_MANIFEST, digest_of
from support.images import push_image
from support.proxy import FaultProxy
from support.registry import Registry, RegistryFactory


def dockyard(workdir: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")}
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(workdir), *args, "--format", "json"], env=env, stdout=stdout,
                stderr=stderr)
    return code, json.loads(stdout.getvalue() or "{}"), stderr.getvalue()


@pytest.fixture
def proxy(registry_factory: RegistryFactory) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(registry_factory().host)
    yield fault_proxy
    fault_proxy.close()


def test_promote_adds_tags_in_place_without_any_upload(
    tmp_path: Path, proxy: FaultProxy,
) -> None:
    digest = push_image(_view(proxy), "prom/app", "1.2.0-rc.1",
                        labels={"org.opencontainers.image.version": "1.2.0",
                                "org.opencontainers.image.revision": "a" * 40})
    proxy.reset_counts()
    code, result, err = dockyard(tmp_path, "promote", f"{proxy.host}/prom/app:1.2.0-rc.1",
                                 "1.2.0", "1.2", "latest")
    assert code == 0, err
    (entry,) = result["registries"]
    assert entry["pushed"] == ["1.2.0", "1.2", "latest"]
    assert result["digest"] == entry["digest"] == digest
    assert proxy.count("POST", "/blobs/uploads/") == proxy.count("PATCH") == 0
    assert proxy.by_method_and_kind()["PUT manifests"] == 3
    for tag in ("1.2.0", "1.2", "latest"):
        assert _view(proxy).manifest_digest("prom/app", tag) == digest


def test_promote_copies_by_digest_to_another_registry_and_keeps_the_guards(
    tmp_path: Path, registry: Registry, auth_registry: Registry,
) -> None:
    newer = push_image(auth_registry, "prom/copy", "3.0.0",
                       labels={"org.opencontainers.image.version": "3.0.0"})
    push_image(auth_registry, "prom/copy", "latest",
               labels={"org.opencontainers.image.version": "3.0.0"})
    source = push_image(registry, "prom/source", "2.5.1",
                        labels={"org.opencontainers.image.version": "2.5.1",
                                "org.opencontainers.image.revision": "b" * 40})
    # no Dockerfile here: promote builds nothing, so the config needs none
    (tmp_path / "dockyard.yml").write_text(
        f"images: [{auth_registry.host}/prom/copy]\n"
        f"registries:\n  {auth_registry.host}:\n"
        f"    username: {auth_registry.username}\n    password: {auth_registry.password}\n")
    code, result, err = dockyard(tmp_path, "promote", f"{registry.host}/prom/source:2.5.1",
                                 f"{auth_registry.host}/prom/copy:2.5.1",
                                 f"{auth_registry.host}/prom/copy:latest")
    assert code == 0, err
    (entry,) = result["registries"]
    assert entry["pushed"] == ["2.5.1"]
    assert entry["skipped"] == [{"tag": "latest",
                                 "reason": "held back: latest points at 3.0.0, newer than 2.5.1"}]
    assert auth_registry.manifest_digest("prom/copy", "2.5.1") == source
    assert auth_registry.manifest_digest("prom/copy", "latest") == newer
    assert auth_registry.config_labels("prom/copy", "2.5.1")[
        "org.opencontainers.image.revision"] == "b" * 40
    assert auth_registry.password not in err + json.dumps(result)

    # a release tag that holds another build is refused, before anything is written
    code, result, err = dockyard(tmp_path, "promote", f"{registry.host}/prom/source:2.5.1",
                                 f"{auth_registry.host}/prom/copy:3.0.0",
                                 f"{auth_registry.host}/prom/copy:3")
    assert code == 1
    assert "prom/copy:3.0.0 already exists, built from an unknown revision" in err
    assert auth_registry.manifest_digest("prom/copy", "3.0.0") == newer
    assert auth_registry.manifest_digest("prom/copy", "3") is None


def test_promote_of_a_missing_source_and_a_bad_name_fail_clearly(
    tmp_path: Path, registry: Registry,
) -> None:
    code, _, err = dockyard(tmp_path, "promote", f"{registry.host}/prom/none:1", "2")
    assert code == 1 and "prom/none:1 does not exist" in err
    code, _, err = dockyard(tmp_path, "promote", f"{registry.host}/Prom/Upper:1", "2")
    assert code == 2 and "upper-case" in err


def test_merge_builds_one_index_from_per_platform_pushes_and_tags_it_everywhere(
    git_repo: Callable[..., Path], registry: Registry, auth_registry: Registry,
) -> None:
    repo = git_repo(tags=("v4.0.0",))
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.strip()
    labels = {"org.opencontainers.image.version": "4.0.0",
              "org.opencontainers.image.revision": revision}
    platforms = {arch: push_image(registry, "merge/app", "@", arch=arch, labels=labels,
                                  media_type=OCI_MANIFEST)
                 for arch in ("amd64", "arm64")}
    (repo / "dockyard.yml").write_text(
        f"images: [{registry.host}/merge/app, {auth_registry.host}/merge/app]\n"
        "tags: ['type=semver,pattern={{version}}', 'type=semver,pattern={{major}}']\n"
        f"registries:\n  {auth_registry.host}:\n"
        f"    username: {auth_registry.username}\n    password: {auth_registry.password}\n")
    code, result, err = dockyard(repo, "merge", f"{registry.host}/merge/app@{platforms['amd64']}",
                                 platforms["arm64"])
    assert code == 0, err
    digest = result["digest"]
    for reg in (registry, auth_registry):
        index = reg.manifest("merge/app", "4.0.0")
        assert index["mediaType"] == OCI_INDEX
        assert {(m["platform"]["architecture"], m["digest"]) for m in index["manifests"]} == {
            (arch, d) for arch, d in platforms.items()}
        for tag in ("4.0.0", "4", "latest"):
            assert reg.manifest_digest("merge/app", tag) == digest
        for child in platforms.values():
            assert reg.manifest_digest("merge/app", child) == child
        assert reg.config_labels("merge/app", "latest")["org.opencontainers.image.version"] \
            == "4.0.0"
    if shutil.which("skopeo"):
        raw = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false",
             f"--creds={auth_registry.username}:{auth_registry.password}",
             f"docker://{auth_registry.host}/merge/app:4"],
            capture_output=True, check=True).stdout
        assert digest_of(raw) == digest

    # the same merge again is a no-op; a single-platform source that is missing fails
    code, again, err = dockyard(repo, "merge", platforms["amd64"], platforms["arm64"])
    assert code == 0, err
    assert all(entry["pushed"] == [] for entry in again["registries"])
    code, _, err = dockyard(repo, "merge", "sha256:" + "0" * 64)
    assert code == 1 and "does not exist" in err
    code, _, err = dockyard(repo, "merge", f"{registry.host}/Merge/App@{platforms['amd64']}")
    assert code == 2 and "upper-case" in err
    code, _, err = dockyard(repo, "merge", f"{registry.host}/merge/app:4.0.0")
    assert code == 2 and "merge takes images by digest" in err


def _view(proxy: FaultProxy) -> Registry:
    """support.registry's read helpers, pointed straight at the registry behind a proxy."""
    view = Registry.__new__(Registry)
    view.host, view.url, view.username, view.password = (
        proxy.upstream, f"http://{proxy.upstream}", None, None)
    view._http = requests.Session()
    view._http.trust_env = False
    _VIEWS.append(view)
    return view


_VIEWS: list[Registry] = []


@pytest.fixture(autouse=True)
def _close_views() -> Iterator[None]:
    yield
    while _VIEWS:
        _VIEWS.pop()._http.close()


def test_promote_uses_docker_login_for_hosts_without_an_entry(
    tmp_path: Path, auth_registry: Registry,
) -> None:
    import base64

    source = push_image(auth_registry, "prom/dockercfg", "4.0.0",
                        labels={"org.opencontainers.image.version": "4.0.0"})
    docker_dir = Path(os.environ["HOME"]) / ".docker"
    docker_dir.mkdir(exist_ok=True)
    token = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode())
    (docker_dir / "config.json").write_text(json.dumps(
        {"auths": {auth_registry.host: {"auth": token.decode()}}}))
    code, result, err = dockyard(tmp_path, "promote",
                                 f"{auth_registry.host}/prom/dockercfg:4.0.0", "stable")
    assert code == 0, err
    (entry,) = result["registries"]
    assert entry["pushed"] == ["stable"]
    assert auth_registry.manifest_digest("prom/dockercfg", "stable") == source


def test_promote_needs_only_the_credentials_of_the_registries_it_touches(
    tmp_path: Path, auth_registry: Registry,
) -> None:
    """A dockyard.yml written for `run`: another registry's token, a webhook secret and
    a build secret are not set in the promote job, which uses none of them."""
    source = push_image(auth_registry, "prom/scoped", "5.0.0",
                        labels={"org.opencontainers.image.version": "5.0.0"})
    (tmp_path / "dockyard.yml").write_text(f"""\
images: [{auth_registry.host}/prom/scoped, ghcr.io/acme/scoped]
registries:
  {auth_registry.host}: {{username: {auth_registry.username}, password: "${{PROMOTE_PASSWORD}}"}}
  ghcr.io: {{username: ci, password: "${{GHCR_TOKEN}}"}}
webhooks:
  - {{url: "https://hooks.example.com/deploy", secret: "${{WEBHOOK_SECRET}}"}}
build:
  secrets: {{npm: "${{NPM_TOKEN}}"}}
""")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(tmp_path), "promote", "--format", "json",
                 f"{auth_registry.host}/prom/scoped:5.0.0", "stable"],
                env={**env, "PROMOTE_PASSWORD": auth_registry.password},
                stdout=stdout, stderr=stderr)
    assert code == 0, stderr.getvalue()
    assert json.loads(stdout.getvalue())["registries"][0]["pushed"] == ["stable"]
    assert auth_registry.manifest_digest("prom/scoped", "stable") == source

    # the registry it does touch still needs its variable
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["-C", str(tmp_path), "promote", "--format", "json",
                 f"{auth_registry.host}/prom/scoped:5.0.0", "edge"], env=env,
                stdout=stdout, stderr=stderr)
    assert code == 2
    assert (f"registries.{auth_registry.host}.password: uses ${{PROMOTE_PASSWORD}}, which is "
            "not set") in stderr.getvalue()
    assert "GHCR_TOKEN" not in stderr.getvalue() and "WEBHOOK_SECRET" not in stderr.getvalue()
    assert auth_registry.manifest_digest("prom/scoped", "edge") is None


@pytest.mark.parametrize("bad", ["Bad Tag!", ".hidden", "café", "x" * 129, "semi;colon"])
def test_promote_to_an_invalid_tag_is_refused_before_any_request(
    tmp_path: Path, proxy: FaultProxy, bad: str,
) -> None:
    push_image(_view(proxy), "prom/valid", "1.0.0")
    proxy.reset_counts()

    code, result, err = dockyard(tmp_path, "promote", f"{proxy.host}/prom/valid:1.0.0",
                                 "stable", bad)

    assert code == 2, err
    assert result["exit_code"] == 2
    assert "is not a valid tag" in err
    assert proxy.count() == 0  # nothing read, nothing written
    assert _view(proxy).manifest_digest("prom/valid", "stable") is None


def test_promote_says_every_target_gets_the_same_tags_and_what_a_failed_preflight_left(
    tmp_path: Path, registry: Registry, auth_registry: Registry,
) -> None:
    push_image(registry, "prom/words", "1.0.0")
    code, _, err = dockyard(tmp_path, "promote", f"{registry.host}/prom/words:1.0.0",
                            f"{registry.host}/prom/words:a", f"{auth_registry.host}/prom/w:b")
    assert code == 2
    assert "gets fewer" not in err
    assert ("promote writes one set of tags to every target repository, and these targets ask "
            f"for different ones ({registry.host}/prom/words is not given b; "
            f"{auth_registry.host}/prom/w is not given a)") in err

    # no credentials for the second registry: the preflight stops it, and says what it left
    code, result, err = dockyard(tmp_path, "promote", f"{registry.host}/prom/words:1.0.0",
                                 f"{auth_registry.host}/prom/w:1.0.0")
    assert code == 1
    assert "preflight failed, nothing was written" in err
    assert "nothing was built" not in err
    assert result["registries"][0]["status"] == "failed"
