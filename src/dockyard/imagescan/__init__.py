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

The flow, one module a step:

- `forms`: what to look for, every form of every registered secret (`needles`);
- `streams`: reading without holding a blob whole (read-ahead, rolling window,
  forward-only seekable stream);
- `blob`: one blob's scan, a tar, gzip or zstd layer, a JSON document or other data;
- `image`: the walk from index.json or manifest.json to every config and layer, and the
  names of what was found;
- `report`: what the scan found and could not read, and the refusal to push.
"""

from dockyard.imagescan.forms import MIN_SECRET_LENGTH, Needles, needles
from dockyard.imagescan.image import scan_archive, scan_layout
from dockyard.imagescan.report import ScanReport, summary

__all__ = [
    "MIN_SECRET_LENGTH", "Needles", "ScanReport", "needles", "scan_archive", "scan_layout",
    "summary",
]
