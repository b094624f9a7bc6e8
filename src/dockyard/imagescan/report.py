"""What a scan found and read: the typed report, the refusal to push, the log line."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import SecretInImageError
from dockyard.imagescan.forms import MIN_SECRET_LENGTH, Needles


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
