"""The pre-push scan on images made here from real tar, gzip and zstd data: the encodings
it looks for, how it walks layers, OCI layouts and docker-archives, and what it names."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import re
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import zstandard

from dockyard import imagescan, secrets
from dockyard.errors import DockyardError, EngineError, SecretInImageError
from dockyard.imagescan.blob import _scan_blob
from dockyard.imagescan.streams import _CHUNK

SECRET = "tok+Scan/Se=cret42"  # + / = change under every encoding
OTHER = "hunter2-webhook-key"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@pytest.fixture(autouse=True)
def _registered() -> None:
    secrets.register(SECRET)
    secrets.register(OTHER)


def layer(files: Mapping[str, bytes], *, compression: str = "gzip",
          links: Mapping[str, str] | None = None) -> bytes:
    """A layer tar holding `files` (and symlinks `links`), compressed as asked."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    data = buffer.getvalue()
    if compression == "gzip":
        return gzip.compress(data)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


Scan = Callable[..., imagescan.ScanReport]


@pytest.fixture
def scan(tmp_path: Path) -> Scan:
    """Scans one single-platform image, made of the layers given, in an OCI layout."""
    made = iter(range(100))

    def scan(*layers: bytes, history: list[dict[str, Any]] | None = None,
             env: list[str] | None = None) -> imagescan.ScanReport:
        writer = LayoutWriter(tmp_path / f"layout{next(made)}")
        writer.index([writer.image(list(layers), history=history, env=env)])
        return imagescan.scan_layout(writer.root)

    return scan


class LayoutWriter:
    """An OCI image layout written blob by blob, as buildx's `--output type=oci` does."""

    root: Path

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(self, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        (self.root / "blobs" / "sha256" / digest(data).removeprefix("sha256:")).write_bytes(data)
        return {"mediaType": media_type, "digest": digest(data), "size": len(data), **extra}

    def image(self, layers: list[bytes], *, arch: str = "amd64",
              history: list[dict[str, Any]] | None = None, env: list[str] | None = None,
              write_layers: bool = True) -> dict[str, Any]:
        config = json.dumps({
            "architecture": arch, "os": "linux",
            "config": {"Env": env or ["PATH=/bin"], "Labels": {"org.example.team": "core"}},
            "rootfs": {"type": "layers", "diff_ids": [digest(x) for x in layers]},
            "history": history or [{"created_by": f"layer {n}"} for n in range(len(layers))],
        }).encode()
        layer_descriptors = [self.blob(x, GZIP_LAYER) if write_layers else
                             {"mediaType": GZIP_LAYER, "digest": digest(x), "size": len(x)}
                             for x in layers]
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": self.blob(config, OCI_CONFIG),
                               "layers": layer_descriptors}).encode()
        return self.blob(manifest, OCI_MANIFEST,
                         platform={"os": "linux", "architecture": arch})

    def index(self, manifests: list[dict[str, Any]], *, nested: bool = True) -> None:
        if nested:  # as buildx writes it: index.json -> the image's index -> manifests
            inner = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                "manifests": manifests}).encode()
            manifests = [self.blob(inner, OCI_INDEX)]
        (self.root / "index.json").write_text(json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))


def leaked(report: imagescan.ScanReport) -> bool:
    """Whether the report shows a secret in any form (it must only name places)."""
    text = "\n".join((*report.findings, *report.skipped, str(report.error() or "")))
    return any(form in text for value in (SECRET, OTHER)
               for form in secrets.encoded_forms(value) if len(form) >= 8)


# --- needles ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [
    "plain", "json", "quote", "quote-lower", "hex", "HEX",
    "b64-0", "b64-1", "b64-2", "b64url-0", "b64url-1", "b64url-2",
])
def test_each_encoding_of_a_secret_is_found_inside_other_bytes(encoding: str) -> None:
    raw = SECRET.encode()
    encoded = {
        "plain": raw,
        "json": json.dumps(SECRET).encode(),
        "quote": quote(SECRET, safe="").encode(),
        "quote-lower": re.sub("%[0-9A-F]{2}", lambda e: e[0].lower(),
                              quote(SECRET, safe="")).encode(),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }
    for offset in range(3):  # `user:secret` puts the secret at any offset mod 3
        prefix = b"u:"[:offset]
        encoded[f"b64-{offset}"] = base64.b64encode(prefix + raw + b"@x")
        encoded[f"b64url-{offset}"] = base64.urlsafe_b64encode(prefix + raw + b"@x")
    found = imagescan.needles()
    data = b"\x00binary " + encoded[encoding] + b" trailing\xff"
    assert list(found.search(data)), encoding


def test_needles_leave_out_short_secrets_and_say_how_many() -> None:
    found = imagescan.needles(["abc", "1234567", SECRET])
    assert found.too_short == 2
    assert not list(found.search(b"abc 1234567"))
    assert list(found.search(SECRET.encode()))


def test_needles_hold_no_form_that_contains_another() -> None:
    forms = imagescan.needles().forms
    assert all(a == b or a not in b for a in forms for b in forms)


def test_nothing_is_read_when_no_secret_is_registered(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        raise AssertionError("the archive was read")
        yield b""  # pragma: no cover

    empty = imagescan.needles([])
    assert imagescan.scan_archive(chunks(), empty) == imagescan.ScanReport()
    assert imagescan.scan_layout(tmp_path / "missing", empty) == imagescan.ScanReport()


# --- layers ----------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_a_secret_in_a_file_is_found_and_the_file_named(scan: Scan, compression: str) -> None:
    clean = layer({"bin/tool": b"\x7fELF" + bytes(3000)}, compression=compression)
    dirty = layer({"app/README": b"hello", "app/.npmrc": f"//npm/:_authToken={SECRET}\n".encode()},
                  compression=compression)
    report = scan(clean, dirty, history=[{"created_by": "COPY tool /bin/"},
                                         {"created_by": "COPY app/ /app/ # buildkit"}])
    assert len(report.findings) == 1, report.findings
    finding = report.findings[0]
    assert f"layer 2 of 2 ({digest(dirty)}, made by `COPY app/ /app/ # buildkit`)" in finding
    assert "file app/.npmrc" in finding and "README" not in finding
    assert not leaked(report)
    error = report.error()
    assert isinstance(error, SecretInImageError) and error.exit_code == 1
    assert "build.secrets" in str(error)


def test_a_clean_image_has_no_finding(scan: Scan) -> None:
    report = scan(layer({"etc/passwd": b"root:x:0:0::/root:/bin/sh\n"}))
    assert report.findings == () and report.error() is None
    assert report.blobs == 4  # the image's index, its manifest, config and layer
    assert report.bytes_scanned > 0


def test_a_secret_across_two_reads_is_found(scan: Scan) -> None:
    size = 2 * _CHUNK
    for cut in (_CHUNK - 5, _CHUNK - 1, _CHUNK):
        content = bytearray(b"x" * size)
        content[cut:cut + len(SECRET)] = SECRET.encode()  # straddles the first read's end
        report = scan(layer({"data.bin": bytes(content)}, compression="none"))
        assert report.findings and "file data.bin" in report.findings[0], cut


def test_a_secret_in_a_file_name_or_link_target_is_found_without_showing_it(scan: Scan) -> None:
    report = scan(layer({f"keys/{SECRET}.txt": b"nothing here"}),
                  layer({}, links={"etc/token": f"/run/{OTHER}"}))
    text = "\n".join(report.findings)
    assert "layer 1 of 2" in text and "the name or header of keys/***.txt" in text
    assert "layer 2 of 2" in text and "the name or header of etc/token" in text
    assert not leaked(report)


def test_many_files_holding_it_are_counted_not_all_listed(scan: Scan) -> None:
    files = {f"f{n}.txt": SECRET.encode() for n in range(12)}
    report = scan(layer(files))
    assert report.findings[0].endswith("and 7 more")


def test_the_history_names_the_instruction_of_each_layer_past_empty_ones(scan: Scan) -> None:
    history = [{"created_by": "ADD rootfs.tar /"},
               {"created_by": "/bin/sh -c #(nop)  ENV A=1", "empty_layer": True},
               {"created_by": "/bin/sh -c #(nop) COPY file:abc in /srv/ "}]
    report = scan(layer({"x": b"1"}), layer({"srv/key.pem": OTHER.encode()}), history=history)
    assert "layer 2 of 2" in report.findings[0]
    assert "made by `COPY file:abc in /srv/`" in report.findings[0]


def test_a_secret_in_env_and_history_names_the_variable_and_the_instruction(scan: Scan) -> None:
    history = [{"created_by": "ADD rootfs.tar /"},
               {"created_by": f"/bin/sh -c #(nop)  ENV NPM_TOKEN={SECRET}",
                "empty_layer": True}]
    report = scan(layer({"x": b"1"}), history=history,
                  env=["PATH=/bin", f"NPM_TOKEN={SECRET}"])
    assert len(report.findings) == 1
    assert "the image config sha256:" in report.findings[0]
    assert "ENV NPM_TOKEN" in report.findings[0]
    assert "the instruction `ENV NPM_TOKEN=***`" in report.findings[0]
    assert not leaked(report)


def test_a_base64_docker_auth_in_a_file_is_found(scan: Scan) -> None:
    auth = base64.b64encode(f"ci-bot:{SECRET}".encode()).decode()
    config = json.dumps({"auths": {"ghcr.io": {"auth": auth}}}).encode()
    report = scan(layer({"root/.docker/config.json": config}))
    assert "file root/.docker/config.json" in report.findings[0]


def test_an_unreadable_layer_is_said_to_be_skipped(scan: Scan) -> None:
    broken = gzip.compress(bytes(range(256)) * 40)[:300]  # a truncated gzip stream
    report = scan(layer({"ok": b"fine"}), broken)
    assert report.findings == ()
    assert any("gzip data cannot be read" in note or "breaks off part-way" in note
               for note in report.skipped)


def test_a_secret_before_a_break_in_the_layer_is_still_found(scan: Scan) -> None:
    noise = random.Random(7).randbytes(4 << 20)  # noqa: S311 -- test data, incompressible
    whole = layer({"etc/app.env": f"TOKEN={SECRET}\n".encode(), "opt/noise.bin": noise},
                  compression="none")
    compressed = gzip.compress(whole, compresslevel=1)
    broken = compressed[:len(compressed) // 2]  # breaks off inside opt/noise.bin
    report = scan(layer({"ok": b"fine"}), broken)
    assert "file etc/app.env" in report.findings[0]
    assert any("breaks off part-way" in note for note in report.skipped)


# --- OCI layouts -----------------------------------------------------------------------


def test_a_multi_platform_layout_names_the_platform_that_holds_it(tmp_path: Path) -> None:
    writer = LayoutWriter(tmp_path / "multi")
    shared = layer({"bin/busybox": b"\x7fELF" + bytes(2000)})
    amd64 = writer.image([shared, layer({"app/main.py": b"print(1)"})], arch="amd64")
    arm64 = writer.image([shared, layer({"app/main.py": b"print(1)",
                                         "app/.env": f"TOKEN={SECRET}".encode()})],
                         arch="arm64")
    attestation_layer = json.dumps({"_type": "https://in-toto.io/Statement/v0.1"}).encode()
    attestation = writer.blob(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": writer.blob(b"{}", OCI_CONFIG),
        "layers": [writer.blob(attestation_layer, "application/vnd.in-toto+json")],
    }).encode(), OCI_MANIFEST, platform={"os": "unknown", "architecture": "unknown"},
        annotations={"vnd.docker.reference.type": "attestation-manifest",
                     "vnd.docker.reference.digest": amd64["digest"]})
    missing = writer.image([layer({"a": b"b"})], arch="s390x", write_layers=False)
    writer.index([amd64, arm64, attestation, missing])

    report = imagescan.scan_layout(writer.root)

    assert len(report.findings) == 1, report.findings
    assert report.findings[0].startswith("linux/arm64: layer 2 of 2 (sha256:")
    assert "file app/.env" in report.findings[0]
    assert [note for note in report.skipped if "linux/s390x: layer sha256:" in note
            and "not in the image's export" in note]
    # each blob once (the shared layer too): the image's index, 4 manifests, 4 configs and
    # 4 layers (the s390x one is missing)
    assert report.blobs == 1 + 4 + 4 + 4
    assert not leaked(report)


def test_an_attestation_holding_a_secret_is_named(tmp_path: Path) -> None:
    writer = LayoutWriter(tmp_path / "attested")
    image = writer.image([layer({"a": b"b"})])
    statement = json.dumps({"predicate": {"invocation": {"parameters": {
        "args": {"build-arg:NPM_TOKEN": SECRET}}}}}).encode()
    attestation = writer.blob(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": writer.blob(b"{}", OCI_CONFIG),
        "layers": [writer.blob(statement, "application/vnd.in-toto+json")],
    }).encode(), OCI_MANIFEST, annotations={
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": image["digest"]})
    writer.index([image, attestation])
    report = imagescan.scan_layout(writer.root)
    assert len(report.findings) == 1
    assert report.findings[0].startswith(f"attestation of {image['digest']}: layer 1 of 1")


def test_a_directory_without_index_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="not an OCI image layout"):
        imagescan.scan_layout(tmp_path)


# --- engine exports --------------------------------------------------------------------


def tar_stream(members: Mapping[str, bytes], chunk: int = 7000) -> Iterator[bytes]:
    """A tar of `members`, given in chunks as docker-py streams `docker save`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    for start in range(0, len(data), chunk):
        yield data[start:start + chunk]


def test_a_docker_archive_as_the_classic_engine_saves_it() -> None:
    base = layer({"bin/sh": b"\x7fELF"}, compression="none")
    dirty = layer({"app/token": SECRET.encode()}, compression="none")
    config = json.dumps({"config": {"Env": ["PATH=/bin"]}, "history": [
        {"created_by": "/bin/sh -c #(nop) ADD file:1 in / "},
        {"created_by": "/bin/sh -c #(nop) COPY file:2 in /app/ "}],
        "rootfs": {"diff_ids": [digest(base), digest(dirty)]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    ids = ["a" * 64, "b" * 64]
    manifest = json.dumps([{"Config": config_name, "RepoTags": None,
                            "Layers": [f"{ids[0]}/layer.tar", f"{ids[1]}/layer.tar"]}])
    report = imagescan.scan_archive(tar_stream({
        config_name: config, f"{ids[0]}/VERSION": b"1.0", f"{ids[0]}/layer.tar": base,
        f"{ids[1]}/layer.tar": dirty, "manifest.json": manifest.encode()}))
    assert report.findings == (
        f"layer 2 of 2 (uncompressed {digest(dirty)}, made by `COPY file:2 in /app/`): "
        "file app/token",)


def test_an_oci_layout_in_a_tar_as_the_containerd_store_saves_it(tmp_path: Path) -> None:
    writer = LayoutWriter(tmp_path / "saved")
    writer.index([writer.image([layer({"srv/app.cfg": f"key={OTHER}".encode()})])],
                 nested=False)
    members = {str(path.relative_to(writer.root)): path.read_bytes()
               for path in sorted(writer.root.rglob("*")) if path.is_file()}
    members["manifest.json"] = b"[]"
    report = imagescan.scan_archive(tar_stream(members))
    assert len(report.findings) == 1
    assert report.findings[0].startswith("linux/amd64: layer 1 of 1")
    assert "file srv/app.cfg" in report.findings[0]


def test_an_export_that_is_no_tar_or_fails_midway_is_an_error_not_a_crash() -> None:
    with pytest.raises(DockyardError, match="cannot be read as a tar"):
        imagescan.scan_archive([b"this is not a tar archive" * 40])

    def failing() -> Iterator[bytes]:
        yield from list(tar_stream({"layer.tar": bytes(range(256)) * 200,
                                    "manifest.json": b"[]"}))[:2]
        raise EngineError("cannot read sha256:abc back from the engine: it went away")

    with pytest.raises(EngineError, match="went away"):
        imagescan.scan_archive(failing())
    assert not [t for t in threading.enumerate() if t.name == "dockyard-image-export"]


def test_a_document_nested_too_deep_is_still_searched_as_text() -> None:
    deep = ("[" * 100_000 + json.dumps(SECRET) + "]" * 100_000).encode()
    blob = _scan_blob(io.BytesIO(deep), imagescan.needles())
    assert blob.kind == "data" and blob.hits == ["its content"]
