"""The buildx backend's pure parts: its command line, its progress stream, the OCI layout
it reads from."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import pytest

from dockyard.buildkit import BuildKit
from dockyard.buildx import _Progress, invocation, read_events
from dockyard.publish.layout import Layout
from dockyard.registry import OCI_INDEX, OCI_MANIFEST, RegistryError
from dockyard.secrets import Secret
from dockyard.settings import Build

TOKEN = "ghp_NotOnTheCommandLine42"


def test_secrets_and_build_args_travel_in_the_environment_never_on_the_command_line(
    tmp_path: Path,
) -> None:
    build = Build(context=tmp_path, args={"NPM_TOKEN": TOKEN, "PATH": "/x",
                                          "http_proxy": "http://127.0.0.1:3128"}, target="run",
                  buildkit=BuildKit(secrets={"npm": Secret(TOKEN)},
                                    secret_files={"rc": tmp_path / "npmrc"},
                                    ssh=("default",), platforms=("linux/amd64", "linux/arm64"),
                                    cache_from=("type=gha",), cache_to=("type=gha,mode=max",),
                                    provenance="mode=max", sbom="true", builder="remote"))
    command = invocation("docker-buildx", build, tags=["r/a:1", "r/a:sha-1"],
                         labels={"k": "v"}, layout=tmp_path / "oci", metadata=tmp_path / "m",
                         load=True)
    argv = " ".join(command.argv)
    assert TOKEN not in argv
    assert command.env == {"NPM_TOKEN": TOKEN, "DOCKYARD_BUILDX_SECRET_0": TOKEN}
    assert "--secret id=npm,env=DOCKYARD_BUILDX_SECRET_0" in argv
    # PATH or a proxy would change buildx itself: on the command line
    assert "--build-arg NPM_TOKEN --build-arg PATH=/x --build-arg http_proxy=http://" in argv
    assert f"--secret id=rc,src={tmp_path / 'npmrc'}" in argv
    assert "--platform linux/amd64,linux/arm64" in argv
    assert "--cache-from type=gha --cache-to type=gha,mode=max" in argv
    assert "--provenance=mode=max --sbom=true" in argv
    assert "--builder remote" in argv and "--ssh default" in argv and "--target run" in argv
    # the engine's image first, then the layout (BuildKit 0.13 drops the index blob of a
    # layout exported first); several names CSV-quoted
    outputs = [command.argv[i + 1] for i, a in enumerate(command.argv) if a == "--output"]
    assert outputs == ['type=image,"name=r/a:1,r/a:sha-1"',
                       f"type=oci,dest={tmp_path / 'oci'},tar=false"]
    assert command.argv[-1] == str(tmp_path)


def test_a_cache_s_credentials_travel_in_the_environment_buildx_reads_them_from(
    tmp_path: Path,
) -> None:
    """buildx takes a gha token from ACTIONS_RUNTIME_TOKEN and s3 keys from AWS_* when the
    entry has none: `ps` shows neither."""
    build = Build(context=tmp_path, buildkit=BuildKit(
        cache_from=(f"type=gha,token={TOKEN},scope=app", "type=registry,ref=r/a:cache"),
        cache_to=("type=s3,region=eu-west-1,bucket=b,access_key_id=AKIAEXAMPLE,"
                  "secret_access_key=s3Secret/42,session_token=s3Session+7,mode=max",)))
    command = invocation("docker-buildx", build, tags=["r/a:1"], labels={},
                         layout=tmp_path / "oci", metadata=tmp_path / "m", load=False)
    argv = " ".join(command.argv)
    assert TOKEN not in argv and "s3Secret/42" not in argv and "s3Session+7" not in argv
    assert "--cache-from type=gha,scope=app --cache-from type=registry,ref=r/a:cache" in argv
    assert "--cache-to type=s3,region=eu-west-1,bucket=b,mode=max" in argv
    assert command.env == {"ACTIONS_RUNTIME_TOKEN": TOKEN, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
                           "AWS_SECRET_ACCESS_KEY": "s3Secret/42",
                           "AWS_SESSION_TOKEN": "s3Session+7"}


def test_the_rawjson_stream_is_read_as_objects_and_plain_lines() -> None:
    vertex = {"vertexes": [{"digest": "sha256:a", "name": "[1/2] RUN make"}]}
    stream = io.BytesIO(
        json.dumps(vertex, indent=2).encode() + b"\n"
        + json.dumps({"logs": [{"vertex": "sha256:a", "data": "aGVsbG8K"}]}).encode() + b"\n"
        + b"Dockerfile:2\n--------------------\nERROR: failed to solve: exit code: 2\n")
    events = list(read_events(stream))
    assert events == [vertex, {"logs": [{"vertex": "sha256:a", "data": "aGVsbG8K"}]},
                      "Dockerfile:2", "--------------------",
                      "ERROR: failed to solve: exit code: 2"]


def test_progress_renders_steps_like_buildx_plain_and_a_failure_like_docker_py(
    tmp_path: Path,
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nRUN make\n")
    lines: list[str] = []
    progress = _Progress(lines.append, lambda *_: None)
    for event in ({"vertexes": [{"digest": "a", "name": "[1/2] FROM scratch", "cached": True,
                                 "started": "2026-01-01T00:00:00Z"}]},
                  {"vertexes": [{"digest": "b", "name": "[2/2] RUN make",
                                 "started": "2026-01-01T00:00:00Z"}]},
                  {"logs": [{"vertex": "b", "data": "Y2M6IGVycm9yCg=="}]},
                  {"vertexes": [{"digest": "b", "name": "[2/2] RUN make",
                                 "started": "2026-01-01T00:00:00Z",
                                 "completed": "2026-01-01T00:00:01.5Z",
                                 "error": "exit code: 2"}]},
                  "Dockerfile:2", "ERROR: failed to solve: exit code: 2"):
        progress.event(event)
    assert lines[:5] == ["#1 [1/2] FROM scratch", "#1 CACHED", "#2 [2/2] RUN make",
                         "#2 cc: error", "#2 ERROR: exit code: 2"]
    error = progress.failure(Build(context=tmp_path), 1)
    assert error.exit_code == 1
    assert error.message == ("the build failed at [2/2] RUN make: exit code: 2\n"
                             "  Dockerfile line 2: RUN make")


def test_a_step_s_output_is_logged_in_whole_lines_so_a_secret_is_never_cut(
    tmp_path: Path,
) -> None:
    secret = Secret("s3cr3t-token-value-x")
    lines: list[str] = []
    progress = _Progress(lines.append, lambda *_: None)
    text = f"token={secret.reveal()}\nlast".encode()
    for part in (text[:12], text[12:], b""):  # the secret split across two chunks
        progress.event({"logs": [{"vertex": "v", "data": base64.b64encode(part).decode()}]})
    assert lines == ["#1 token=s3cr3t-token-value-x"]  # whole, so redaction can see it
    progress.event({"vertexes": [{"digest": "v", "name": "RUN x", "completed": "x"}]})
    assert lines[1:3] == ["#1 RUN x", "#1 last"]  # the unended line, when the step ends


def test_a_builder_that_does_not_exist_is_bad_input(tmp_path: Path) -> None:
    progress = _Progress(lambda _: None, lambda *_: None)
    progress.event('ERROR: no builder "k8s" found')
    error = progress.failure(Build(context=tmp_path, buildkit=BuildKit(builder="k8s")), 1)
    assert error.exit_code == 2
    assert str(error).startswith("build.builder: buildx has no builder 'k8s' here")


def write_blob(root: Path, content: bytes) -> str:
    digest = hashlib.sha256(content).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(content)
    return f"sha256:{digest}"


def test_a_layout_serves_its_image_manifests_and_blobs(tmp_path: Path) -> None:
    layer = write_blob(tmp_path, b"layer" * 30_000)
    config = write_blob(tmp_path, b"{}")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"digest": config, "size": 2},
                           "layers": [{"digest": layer, "size": 150_000}]}).encode()
    child = write_blob(tmp_path, manifest)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [{"digest": child, "size": len(manifest)}]}).encode()
    top = write_blob(tmp_path, index)
    (tmp_path / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "manifests": [{"mediaType": OCI_INDEX, "digest": top}]}))
    layout = Layout(tmp_path)
    image = layout.image()
    assert (image.digest, image.media_type, image.is_index) == (top, OCI_INDEX, True)
    found = layout.get_manifest("", child)
    assert found is not None and found.media_type == OCI_MANIFEST
    with layout.open_blob("", layer) as chunks:
        assert b"".join(chunks) == b"layer" * 30_000
    assert layout.get_manifest("", "sha256:" + "0" * 64) is None


def test_a_broken_layout_is_reported_as_such(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text(json.dumps(
        {"manifests": [{"digest": "sha256:" + "1" * 64}]}))
    with pytest.raises(RegistryError, match="lacks sha256:1111"):
        Layout(tmp_path).image()
    forged = write_blob(tmp_path, b"{}")
    (tmp_path / "blobs" / "sha256" / forged.removeprefix("sha256:")).write_bytes(b"[]")
    with pytest.raises(RegistryError, match="does not match its digest"):
        Layout(tmp_path).get_manifest("", forged)
