"""One blob's scan: what it is (tar, JSON document or other data, after gzip or zstd) and
where in it a secret is.

A layer's hits are placed in the tar member whose header or data holds them, as tarfile
reads the headers; a document's, at their key path (`config.Env[0]`); other data is
searched whole. A tar whose headers stop making sense is searched to its last byte all
the same; a blob that cannot be read to the end (corrupt gzip or zstd) says why
(`_Blob.skipped`), and the report lists it; what was found before the break still counts.
"""

from __future__ import annotations

import gzip
import json
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from dockyard import secrets
from dockyard.imagescan.forms import Needles
from dockyard.imagescan.streams import _CHUNK, _Prefixed, _read_up_to, _Reader, _scanning, _Window

_MAX_DOCUMENT = 8 << 20  # a manifest, index or config larger than this is scanned as data
_MAX_PLACES = 1000  # files named per layer (five are shown)
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"


@dataclass
class _Blob:
    """What one blob holds: a tar (a layer), a JSON document, or other data."""

    kind: str  # "tar", "document" or "data"
    hits: list[str] = field(default_factory=list)  # where in it: "file app/x", ...
    document: Any = None
    size: int = 0  # bytes scanned, after decompression
    skipped: str | None = None  # why it could not be read


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
    broken = None
    try:
        while chunk := stream.read(_CHUNK):
            window.feed(chunk)
    except _read_errors() as exc:  # a stream that breaks part-way: what was read counts
        broken = _read_failure(exc)
    return _Blob("data", hits=["its content"] if window.hits else [], size=window.position,
                 skipped=broken)


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

    broken = None
    try:
        try:
            with tarfile.open(fileobj=reader, mode="r:") as layer:
                while (member := layer.next()) is not None:
                    _forget_members(layer)
                    settle(member.offset)
                    previous = member
        except tarfile.TarError:
            pass  # the rest is scanned all the same, below, as data after the last file
        reader.drain()
    except _read_errors() as exc:  # the layer's gzip or zstd breaks part-way: the hits
        broken = _read_failure(exc)  # before the break still refuse the push
    settle(None)
    return _Blob("tar", hits=list(places), size=window.position, skipped=broken)


def _read_errors() -> tuple[type[Exception], ...]:
    """What a decompressing stream raises when its data breaks off or is corrupt."""
    import zstandard  # a C extension, loaded once; only a scan gets here

    return (OSError, EOFError, zlib.error, zstandard.ZstdError)


def _read_failure(exc: Exception) -> str:
    """Why the rest of a blob could not be read."""
    return f"its compressed data breaks off part-way ({type(exc).__name__})"


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
