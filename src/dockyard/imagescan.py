"""The pre-push scan: no registered secret leaves inside an image.

Before anything is pushed, every part of the image that a registry would hold is read for
every secret registered with `dockyard.secrets`, in the forms it takes there (those of
`secrets.encoded_forms`, plus hex): the config (env, labels, cmd, entrypoint...), its
history (each instruction's `created_by`), each manifest and index, and every byte of
every layer, decompressed (gzip, zstd or none) and streamed through a rolling window, so
memory stays flat and a secret across two reads is still found. A hit is located in the
layer's tar (the file holding it, or the header naming it) and the layer is named with
its digest and the instruction that made it; the secret itself is never named.

Two ways in: `scan_layout` for an OCI image layout directory (what a buildx build
exports), and `scan_archive` for the tar stream an engine's `save` gives (docker-archive
from the classic store, an OCI layout in a tar from the containerd store).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
import tarfile
import threading
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Full, Queue
from typing import Any, Protocol, cast

from dockyard import secrets
from dockyard.errors import DockyardError, SecretInImageError

# A secret shorter than this is too likely to occur by chance in 100 MB of binaries (and
# would refuse pushes for nothing); such values are left out, and the report says so.
MIN_SECRET_LENGTH = 8
_CHUNK = 1 << 20
_PREFETCH = 8  # chunks of the engine's export read ahead while the scan searches
_MAX_DOCUMENT = 8 << 20  # a manifest, index or config larger than this is scanned as data
_MAX_HITS = 256  # found per read and not yet placed in a file: more only fill memory
_MAX_PLACES = 1000  # files named per layer (five are shown)
_FILES_SHOWN = 5
_QUOTED_MAX = 120
_ESCAPE = re.compile(r"%[0-9A-F]{2}")
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_INDEXES = ("application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json")


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Needles:
    """The byte strings to look for: every form of every registered secret, none of them
    containing another (whatever holds the longer holds the shorter too)."""

    forms: tuple[bytes, ...] = ()
    too_short: int = 0  # registered secrets left out for being shorter than the minimum

    def __bool__(self) -> bool:
        return bool(self.forms)

    @property
    def window(self) -> int:
        """How many bytes of one read must be kept for the next: a form that starts in
        one read and ends in the next is found."""
        return max((len(form) for form in self.forms), default=1) - 1

    def search(self, data: bytes, start: int = 0) -> Iterator[int]:
        """Where in `data` a form starts, form by form (not in order), from `start` on."""
        for form in self.forms:
            position = data.find(form, max(0, start - len(form) + 1))
            while position >= 0:
                yield position
                position = data.find(form, position + 1)

    def found_in(self, text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")
        return any(form in data for form in self.forms)


def needles(values: Iterable[str] | None = None) -> Needles:
    """The forms of `values` (default: every secret registered so far) to look for."""
    values = secrets.known() if values is None else tuple(values)
    forms: set[bytes] = set()
    too_short = 0
    for value in values:
        if len(value.strip()) < MIN_SECRET_LENGTH:
            too_short += 1
            continue
        texts = {form for form in secrets.encoded_forms(value) if secrets.maskable(form)}
        texts |= {_ESCAPE.sub(lambda e: e[0].lower(), text) for text in texts}  # %2f, %2F
        raw = value.encode("utf-8", "surrogatepass")
        forms |= {text.encode("utf-8", "surrogatepass") for text in texts}
        forms |= {raw.hex().encode(), raw.hex().upper().encode()}
    minimal: list[bytes] = []
    for form in sorted(forms, key=lambda f: (len(f), f)):
        if not any(shorter in form for shorter in minimal):
            minimal.append(form)
    return Needles(tuple(minimal), too_short)


@dataclass(frozen=True)
class ScanReport:
    """What the scan found (`findings`, each naming a place, never the secret) and what
    it could not read (`skipped`, each saying why)."""

    findings: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    blobs: int = 0
    bytes_scanned: int = 0  # after decompression

    def error(self) -> SecretInImageError | None:
        """The refusal to push, when something was found."""
        if not self.findings:
            return None
        places = "\n".join(f"  - {finding}" for finding in self.findings)
        return SecretInImageError(
            f"the image holds a registered secret (a registry password, token or webhook "
            f"secret), so nothing was pushed. Found in:\n{places}",
            hint="keep secrets out of the image: hand them to the build with build.secrets "
                 "and `RUN --mount=type=secret,id=NAME` (never ARG, ENV or a label), and keep "
                 "files that hold them out of the build context with .dockerignore")


def summary(report: ScanReport, found: Needles) -> str:
    """One line on what the scan read and found, for the log."""
    count = found.too_short
    short = (f"; {count} registered secret{'s' if count != 1 else ''} shorter than "
             f"{MIN_SECRET_LENGTH} characters not looked for (too likely to occur by chance)"
             if count else "")
    outcome = "a registered secret is in the image" if report.findings else \
        "no registered secret in the image"
    return (f"{outcome}: {report.blobs} blobs read, {report.bytes_scanned / 1e6:.1f} MB "
            f"uncompressed{short}")


def scan_layout(path: Path, found: Needles | None = None) -> ScanReport:
    """Scan the OCI image layout at `path`: index.json, then every manifest it reaches
    (each platform of an index, attestation manifests too), their configs and layers."""
    found = needles() if found is None else found
    if not found:
        return ScanReport()
    root = Path(path)
    scanned: dict[str, _Blob] = {}

    def blob(name: str) -> _Blob | None:
        if name not in scanned:
            file = root / name
            if not file.is_file():
                return None
            with file.open("rb") as stream:
                scanned[name] = _scan_blob(stream, found)
        return scanned[name]

    index = blob("index.json")
    if index is None or not isinstance(index.document, dict):
        raise DockyardError(f"{root} is not an OCI image layout: it has no readable "
                            "index.json", hint="export the image with `--output type=oci`")
    return _Image(blob).walk_layout(index)


def scan_archive(chunks: Iterable[bytes], found: Needles | None = None) -> ScanReport:
    """Scan what `docker save` writes (a tar, given as chunks of bytes): every file in it
    once, as it streams by, then the image is walked from index.json (an OCI layout) or
    manifest.json (a docker-archive) to name what was found."""
    found = needles() if found is None else found
    if not found:
        return ScanReport()
    scanned: dict[str, _Blob] = {}
    ahead = _prefetched(chunks)
    try:
        with tarfile.open(fileobj=_chunk_reader(ahead), mode="r:") as archive:
            while (member := archive.next()) is not None:
                _forget_members(archive)
                stream = archive.extractfile(member) if member.isfile() else None
                if stream is not None:
                    scanned[_normal(member.name)] = _scan_blob(stream, found)
    except (tarfile.TarError, OSError) as exc:
        raise DockyardError(f"the engine's export of the image cannot be read as a tar "
                            f"({type(exc).__name__}): it cannot be scanned, so it is not "
                            "pushed") from exc
    finally:
        ahead.close()  # the reading thread stops, whatever happened
    image = _Image(scanned.get)
    if "index.json" in scanned:
        return image.walk_layout(scanned["index.json"])
    if "manifest.json" in scanned:
        return image.walk_archive(scanned["manifest.json"])
    raise DockyardError("the engine's export of the image holds neither index.json nor "
                        "manifest.json: it cannot be scanned, so it is not pushed")


def _prefetched(chunks: Iterable[bytes]) -> Generator[bytes, None, None]:
    """`chunks`, read ahead by a thread of their own: the engine writes its export while
    the scan searches what came before (reading a socket lets go of the GIL)."""
    queue: Queue[tuple[bytes | None, BaseException | None]] = Queue(_PREFETCH)
    stop = threading.Event()
    source = iter(chunks)

    def put(item: tuple[bytes | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in source:
                if not put((chunk, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 -- raised in the scanning thread
            put((None, exc))
        else:
            put((None, None))

    thread = threading.Thread(target=produce, name="dockyard-image-export", daemon=True)
    thread.start()
    try:
        while True:
            try:
                chunk, error = queue.get(timeout=0.1)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    return
                continue
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk
    finally:
        stop.set()
        thread.join()
        close = getattr(source, "close", None)
        if close is not None:
            close()  # a generator left unfinished: docker-py's response is released


# --- one blob --------------------------------------------------------------------------


@dataclass
class _Blob:
    """What one blob holds: a tar (a layer), a JSON document, or other data."""

    kind: str  # "tar", "document" or "data"
    hits: list[str] = field(default_factory=list)  # where in it: "file app/x", ...
    document: Any = None
    size: int = 0  # bytes scanned, after decompression
    skipped: str | None = None  # why it could not be read


class _Window:
    """Finds needles in a stream fed in pieces: each piece is searched with the end of the
    one before it, so a form split across two pieces is found too."""

    def __init__(self, found: Needles) -> None:
        self._found = found
        self._keep = found.window
        self._tail = b""
        self.position = 0  # bytes fed so far
        self.hits: list[int] = []  # where found forms start, in the stream

    def feed(self, data: bytes) -> None:
        if not data:
            return
        buffer = self._tail + data
        base = self.position - len(self._tail)
        for hit in self._found.search(buffer, start=len(self._tail)):
            if len(self.hits) >= _MAX_HITS:
                break
            self.hits.append(base + hit)
        self._tail = buffer[-self._keep:] if self._keep else b""
        self.position += len(data)


class _Forward(io.RawIOBase):
    """A stream over pieces of bytes (`next_piece` gives b"" at the end), seekable forwards
    only: tarfile skips a member's data by seeking, and this reads on without copying."""

    def __init__(self, next_piece: Callable[[], bytes]) -> None:
        self._next_piece = next_piece
        self._buffer = b""
        self._offset = 0  # in the buffer
        self._start = 0  # where in the stream the buffer starts

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._start + self._offset

    def read(self, size: int | None = -1) -> bytes:
        wanted = sys.maxsize if size is None or size < 0 else size
        parts = []
        while wanted > 0 and (self._offset < len(self._buffer) or self._refill()):
            part = self._buffer[self._offset:self._offset + wanted]
            self._offset += len(part)
            wanted -= len(part)
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset + (self.tell() if whence == io.SEEK_CUR else 0)
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self.tell():
            raise io.UnsupportedOperation("this stream is read once, forwards")
        while self.tell() < target and (self._offset < len(self._buffer) or self._refill()):
            self._offset += min(target - self.tell(), len(self._buffer) - self._offset)
        return self.tell()

    def _refill(self) -> bool:
        self._start += len(self._buffer)
        self._buffer, self._offset = self._next_piece(), 0
        return bool(self._buffer)

    def drain(self) -> None:
        """Read the rest of the stream."""
        while self._refill():
            pass


def _scanning(source: _Reader, window: _Window) -> _Forward:
    """`source` as a stream that feeds `window` everything read from it, a chunk ahead."""

    def next_piece() -> bytes:
        piece = source.read(_CHUNK)
        window.feed(piece)
        return piece

    return _Forward(next_piece)


def _chunk_reader(chunks: Iterable[bytes]) -> _Forward:
    """A stream over an iterable of byte chunks (docker-py's streamed response)."""
    pieces = (chunk for chunk in chunks if chunk)
    return _Forward(lambda: next(pieces, b""))


class _Prefixed(io.RawIOBase):
    """`source` with its first bytes read already (to tell what it is) put back."""

    def __init__(self, head: bytes, source: _Reader) -> None:
        self._head = head
        self._source = source

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._source.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._source.read(-1 if size is None else size)


def _scan_blob(source: _Reader, found: Needles) -> _Blob:
    head = _read_up_to(source, 4)
    stream: _Reader = _Prefixed(head, source)
    compression = ""
    try:
        if head.startswith(_GZIP):
            compression = "gzip"
            stream = gzip.GzipFile(fileobj=cast(Any, stream), mode="rb")
        elif head.startswith(_ZSTD):
            compression = "zstd"
            import zstandard  # only for zstd layers: a buildx `compression=zstd` export

            stream = zstandard.ZstdDecompressor().stream_reader(
                cast(Any, stream), read_across_frames=True)
        head = _read_up_to(stream, 512)
        stream = _Prefixed(head, stream)
        if _is_tar(head):
            return _scan_tar(stream, found)
        if head.lstrip()[:1] in (b"{", b"["):
            return _scan_document(stream, found)
        return _scan_data(stream, found)
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        what = f"{compression} data" if compression else "its content"
        return _Blob("data", skipped=f"{what} cannot be read ({type(exc).__name__})")
    except Exception as exc:  # zstandard.ZstdError, for one, derives from Exception only
        if type(exc).__module__.startswith("zstandard"):
            return _Blob("data", skipped="zstd data cannot be read")
        raise


def _read_up_to(stream: _Reader, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            break
        data += more
    return data


def _is_tar(head: bytes) -> bool:
    """Whether `head` starts a tar: ustar magic, an old-style header with a right
    checksum, or the zero block of an empty archive."""
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar" or head == bytes(512):
        return True
    try:
        checksum = int(head[148:156].strip(b" \0") or b"-1", 8)
    except ValueError:
        return False
    return checksum == sum(head[:148]) + 8 * 32 + sum(head[156:512])


def _scan_data(stream: _Reader, found: Needles) -> _Blob:
    window = _Window(found)
    while chunk := stream.read(_CHUNK):
        window.feed(chunk)
    return _Blob("data", hits=["its content"] if window.hits else [], size=window.position)


def _scan_document(stream: _Reader, found: Needles) -> _Blob:
    text = _read_up_to(stream, _MAX_DOCUMENT + 1)
    if len(text) > _MAX_DOCUMENT:
        return _scan_data(_Prefixed(text, stream), found)
    window = _Window(found)
    window.feed(text)
    try:
        document = json.loads(text)
        places = _json_places(document, found, "")
    except (ValueError, RecursionError):  # no JSON, or nested too deep to walk
        return _Blob("data", hits=["its content"] if window.hits else [], size=len(text))
    if window.hits and not places:
        places = ["its text"]
    return _Blob("document", hits=places, document=document, size=len(text))


def _json_places(value: Any, found: Needles, path: str) -> list[str]:
    """Where in a JSON document a form is found (key paths, `config.Env[0]`...)."""
    if isinstance(value, str):
        return [path or "(the document)"] if found.found_in(value) else []
    if isinstance(value, Mapping):
        places: list[str] = []
        for key, item in value.items():
            name = secrets.redact(str(key))
            if found.found_in(str(key)):
                places.append(f"{path}.{name}" if path else f"a key ({name})")
            places += _json_places(item, found, f"{path}.{name}" if path else name)
        return places
    if isinstance(value, list):
        return [place for index, item in enumerate(value)
                for place in _json_places(item, found, f"{path}[{index}]")]
    return []


def _scan_tar(stream: _Reader, found: Needles) -> _Blob:
    """A layer: every byte is searched as it streams (`_scanning`), and each hit is put
    in the member whose header or data holds it, as tarfile reads the headers."""
    window = _Window(found)
    reader = _scanning(stream, window)
    places: dict[str, None] = {}  # in order, once each
    previous: tarfile.TarInfo | None = None

    def settle(upto: int | None) -> None:
        """Place every hit before `upto` (None: all) in `previous`."""
        pending = sorted(window.hits)
        done = [hit for hit in pending if upto is None or hit < upto]
        window.hits[:] = pending[len(done):]
        for hit in done:
            if len(places) < _MAX_PLACES:
                places[_member_place(previous, hit)] = None

    try:
        with tarfile.open(fileobj=reader, mode="r:") as layer:
            while (member := layer.next()) is not None:
                _forget_members(layer)
                settle(member.offset)
                previous = member
    except tarfile.TarError:
        pass  # the rest is scanned all the same, below, as data after the last file
    reader.drain()
    settle(None)
    return _Blob("tar", hits=list(places), size=window.position)


def _forget_members(archive: tarfile.TarFile) -> None:
    """Streaming, a TarFile still keeps every member it read; a layer may hold 100,000
    files, and nothing here reads one twice."""
    cast(Any, archive).members.clear()


def _member_place(member: tarfile.TarInfo | None, hit: int) -> str:
    if member is None:
        return "the layer's first bytes"
    name = secrets.redact(member.name)
    if hit < member.offset_data:
        return f"the name or header of {name}"
    if hit < member.offset_data + member.size:
        return f"file {name}"
    return f"the bytes after {name}"


def _normal(name: str) -> str:
    return name.removeprefix("./")


# --- the image -------------------------------------------------------------------------


class _Image:
    """Walks an image from its top (index.json or manifest.json) to every blob, and turns
    each blob's hits into findings that name the platform, layer and instruction."""

    def __init__(self, blob: Callable[[str], _Blob | None]) -> None:
        self._blob = blob
        self._findings: list[str] = []
        self._skipped: list[str] = []
        self._seen: set[str] = set()  # blobs counted (and their skips noted) once
        self._visited: set[str] = set()  # manifests walked once, however often reached
        self._blobs = 0
        self._bytes = 0

    def report(self) -> ScanReport:
        return ScanReport(tuple(self._findings), tuple(self._skipped), self._blobs,
                          self._bytes)

    def _get(self, name: str, what: str) -> _Blob | None:
        blob = self._blob(name)
        if name in self._seen:
            return blob
        self._seen.add(name)
        if blob is None:
            self._skipped.append(f"{what}: not in the image's export")
            return None
        self._blobs += 1
        self._bytes += blob.size
        if blob.skipped:
            self._skipped.append(f"{what}: {blob.skipped}")
        return blob

    def walk_layout(self, index: _Blob) -> ScanReport:
        self._seen.add("index.json")
        self._note(index, "index.json")
        for descriptor in _descriptors(index.document, "manifests"):
            self._descriptor(descriptor, "")
        return self.report()

    def walk_archive(self, manifest: _Blob) -> ScanReport:
        """A docker-archive: manifest.json lists each image's config and layer files."""
        self._seen.add("manifest.json")
        self._note(manifest, "manifest.json")
        entries = manifest.document if isinstance(manifest.document, list) else []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            config_name = str(entry.get("Config") or "")
            config = self._get(_normal(config_name), f"the config {config_name}")
            layers = [str(name) for name in entry.get("Layers") or ()]
            self._image("", config, _digest_of(config_name), [
                (name, self._get(_normal(name), f"layer {name}")) for name in layers])
        return self.report()

    def _descriptor(self, descriptor: Mapping[str, Any], platform: str) -> None:
        digest = str(descriptor.get("digest") or "")
        media_type = str(descriptor.get("mediaType") or "")
        platform = _platform(descriptor) or platform
        where = f"{platform}: " if platform else ""
        annotations = descriptor.get("annotations") or {}
        if isinstance(annotations, dict) and \
                annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            where = f"attestation of {annotations.get('vnd.docker.reference.digest')}: "
        blob = self._get(_blob_path(digest), f"{where}manifest {digest}")
        if blob is None or digest in self._visited:
            return
        self._visited.add(digest)
        self._note(blob, f"{where}{'index' if media_type in _INDEXES else 'manifest'} {digest}")
        document = blob.document if isinstance(blob.document, dict) else {}
        if media_type in _INDEXES or "manifests" in document:
            for child in _descriptors(document, "manifests"):
                self._descriptor(child, platform)
            return
        config_descriptor = document.get("config") or {}
        config_digest = str(config_descriptor.get("digest") or "") \
            if isinstance(config_descriptor, dict) else ""
        config = self._get(_blob_path(config_digest), f"{where}config {config_digest}")
        layers = [(str(layer.get("digest") or ""),
                   self._get(_blob_path(str(layer.get("digest") or "")),
                             f"{where}layer {layer.get('digest')}"))
                  for layer in _descriptors(document, "layers")]
        self._image(where, config, config_digest, layers)

    def _note(self, blob: _Blob, what: str) -> None:
        if blob.hits:
            self._findings.append(f"{what}: {', '.join(blob.hits[:_FILES_SHOWN])}")

    def _image(self, where: str, config: _Blob | None, config_digest: str,
               layers: list[tuple[str, _Blob | None]]) -> None:
        """One platform's image: its config's hits by field, its layers' by file, each
        layer with the instruction (from the history) that made it."""
        document = config.document if config is not None and \
            isinstance(config.document, dict) else {}
        if config is not None and config.hits:
            fields = [_config_place(document, place) for place in config.hits]
            self._findings.append(f"{where}the image config {config_digest}: "
                                  + "; ".join(dict.fromkeys(fields[:_FILES_SHOWN])))
        made_by = _layer_instructions(document, len(layers))
        diff_ids = (document.get("rootfs") or {}).get("diff_ids") or []
        for number, (digest, layer) in enumerate(layers, 1):
            if layer is None or not layer.hits:
                continue
            if not digest.startswith("sha256:"):  # a docker-archive's file: its diff id
                digest = f"uncompressed {diff_ids[number - 1]}" \
                    if len(diff_ids) == len(layers) else digest
            by = f", made by `{made_by[number - 1]}`" if made_by else ""
            shown = layer.hits[:_FILES_SHOWN]
            more = len(layer.hits) - len(shown)
            self._findings.append(
                f"{where}layer {number} of {len(layers)} ({digest}{by}): "
                + ", ".join(shown) + (f" and {more} more" if more > 0 else ""))


def _descriptors(document: Any, key: str) -> list[Mapping[str, Any]]:
    items = document.get(key) if isinstance(document, dict) else None
    return [item for item in items or () if isinstance(item, dict)] \
        if isinstance(items, list) else []


def _platform(descriptor: Mapping[str, Any]) -> str:
    platform = descriptor.get("platform")
    if not isinstance(platform, dict) or platform.get("os") == "unknown":
        return ""
    parts = [str(platform.get(k)) for k in ("os", "architecture", "variant") if platform.get(k)]
    return "/".join(parts)


def _blob_path(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"blobs/{algorithm}/{encoded}"


def _digest_of(name: str) -> str:
    """The digest a docker-archive's file name stands for (`<hex>.json`, `<hex>/layer.tar`,
    `blobs/sha256/<hex>`)."""
    stem = name.removeprefix("blobs/sha256/").removesuffix(".json").removesuffix("/layer.tar")
    return f"sha256:{stem}" if len(stem) == 64 else name


def _config_place(config: Mapping[str, Any], place: str) -> str:
    """`config.Env[1]` as `ENV NPM_TOKEN`, `history[3].created_by` as the instruction."""
    head, _, rest = place.partition("[")
    index_text = rest.partition("]")[0]
    index = int(index_text) if index_text.isdigit() else -1
    if head == "config.Env" and index >= 0:
        entries = (config.get("config") or {}).get("Env") or []
        name = str(entries[index]).partition("=")[0] if index < len(entries) else ""
        return f"ENV {secrets.redact(name)}" if name else "ENV"
    if head.startswith("config.Labels."):
        return f"LABEL {head.removeprefix('config.Labels.')}"
    if head == "history" and index >= 0:
        history = config.get("history") or []
        if index < len(history) and isinstance(history[index], dict):
            return f"the instruction `{_instruction(history[index])}`"
    return place


def _layer_instructions(config: Mapping[str, Any], count: int) -> list[str]:
    """The instruction behind each layer: the history entries that made a layer
    (`empty_layer` unset), in order; nothing when their number does not match."""
    history = [entry for entry in config.get("history") or ()
               if isinstance(entry, dict) and not entry.get("empty_layer")]
    if len(history) != count:
        return []
    return [_instruction(entry) for entry in history]


def _instruction(entry: Mapping[str, Any]) -> str:
    text = str(entry.get("created_by") or entry.get("comment") or "?")
    text = " ".join(secrets.redact(text).removeprefix("/bin/sh -c #(nop) ").split())
    return text if len(text) <= _QUOTED_MAX else text[:_QUOTED_MAX] + "..."
