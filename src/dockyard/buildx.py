"""The buildx backend: `docker buildx build` into a local OCI layout, pushed from there.

The build writes its image (an index when it has several platforms or attestations) to
an OCI layout in a private temporary directory (`--output type=oci,tar=false`), reads
its result from `--metadata-file` and its progress from `--progress=rawjson`, which is
rendered through the same log as docker-py's build. Nothing reaches a registry during
the build: `push` uploads the layout (manifests, children, attestations, blobs) by the
copy engine, and the publish flow copies it on by digest, tags by reference, orders and
guards as for any push.

Secrets never appear on the command line: each `build.secrets` value reaches buildx in
an environment variable of its process (`--secret id=ID,env=VAR`); build args travel the
same way (`--build-arg NAME`, the value from the environment), so `ps` shows none. Every
line printed passes through the CLI's redaction.

The subprocess is run directly (no python-on-whales): the command is a dozen flags, and
the rawjson stream needs reading as it comes, which a wrapper would hide.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from dockyard import imagescan
from dockyard.buildkit import CACHE_CREDENTIALS, csv_pairs
from dockyard.engine import PushResult, docker_config_credentials, dockerfile_line, plain_text
from dockyard.errors import BuildError, DockyardError, InputError, PublishError
from dockyard.names import parse_image
from dockyard.publish.connect import Connect, Target, connector, retry_policy
from dockyard.publish.copy import copy_manifest
from dockyard.publish.layout import Layout
from dockyard.registry import Manifest
from dockyard.settings import Build, Credentials

LogSink = Callable[[str], None]
Progress = Callable[[str, int, "int | None"], None]
_LOG_TAIL = 20
_SECRET_VARIABLE = "DOCKYARD_BUILDX_SECRET_{index}"  # noqa: S105 -- a name, no value
# Build args named like these (in any case) would change the buildx process itself, its
# proxies, its ssh agent or its Kubernetes config: they go on the command line
_PROCESS_VARIABLES = ("PATH", "HOME", "TMPDIR", "LANG", "USER", "SHELL", "KUBECONFIG",
                      "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY")
_PROCESS_PREFIXES = ("DOCKER_", "BUILDX_", "BUILDKIT_", "DOCKYARD_", "LC_", "SSH_", "XDG_")
_NO_BUILDER = re.compile(r'no builder "[^"]*" found')
_LOCATED = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+)$")


def _ignore(_: str) -> None:
    pass


def _no_progress(task: str, current: int, total: int | None) -> None:
    pass


def _without_credentials(item: str, env: dict[str, str]) -> str:
    """A cache entry without its credentials, each put in `env` under the variable buildx
    reads it from (one value per variable: buildkit's parsing checked that)."""
    variables = CACHE_CREDENTIALS.get(csv_pairs(item).get("type", "")) if "=" in item else None
    if not variables:
        return item
    kept = []
    for part in item.split(","):
        key, _, value = part.partition("=")
        if key.strip() in variables:
            env[variables[key.strip()]] = value.strip()
        else:
            kept.append(part)
    return ",".join(kept)


@dataclass(frozen=True)
class Invocation:
    """A buildx command line and the environment it needs beyond the caller's."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


def invocation(binary: str, build: Build, *, tags: Sequence[str], labels: Mapping[str, str],
               layout: Path, metadata: Path, load: bool) -> Invocation:
    """The `docker buildx build` command for `build`. Pure."""
    kit = build.buildkit
    argv = [binary, "build", "--progress=rawjson", "--metadata-file", str(metadata),
            "--file", str(build.context / build.dockerfile)]
    if load and tags:  # the docker driver's engine gets the image too, as docker-py's would
        # before the layout: BuildKit 0.13 leaves the index blob out of an OCI layout
        # exported before an image (the layout's index.json names a blob it lacks)
        argv += ["--output", 'type=image,"name=' + ",".join(tags) + '"']  # CSV-quoted
    argv += ["--output", f"type=oci,dest={layout},tar=false"]
    env: dict[str, str] = {}
    if kit.builder:
        argv += ["--builder", kit.builder]
    if kit.platforms:
        argv += ["--platform", ",".join(kit.platforms)]
    if build.target:
        argv += ["--target", build.target]
    if build.pull:
        argv.append("--pull")
    if build.no_cache:
        argv.append("--no-cache")
    for name, value in build.args.items():
        if name.upper() in _PROCESS_VARIABLES or name.upper().startswith(_PROCESS_PREFIXES) \
                or "=" in name:
            argv += ["--build-arg", f"{name}={value}"]
        else:  # buildx reads the value of `--build-arg NAME` from its environment
            argv += ["--build-arg", name]
            env[name] = value
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for index, (key, secret) in enumerate(sorted(kit.secrets.items())):
        variable = _SECRET_VARIABLE.format(index=index)
        argv += ["--secret", f"id={key},env={variable}"]
        env[variable] = secret.reveal()
    for key, path in sorted(kit.secret_files.items()):
        argv += ["--secret", f"id={key},src={path}"]
    for item in kit.ssh:
        argv += ["--ssh", item]
    for item in kit.cache_from:
        argv += ["--cache-from", _without_credentials(item, env)]
    for item in kit.cache_to:
        argv += ["--cache-to", _without_credentials(item, env)]
    if kit.provenance is not None:
        argv.append(f"--provenance={kit.provenance}")
    if kit.sbom is not None:
        argv.append(f"--sbom={kit.sbom}")
    argv.append(str(build.context))
    return Invocation(tuple(argv), env)


class Buildx:
    """Builds with buildx, pushes the layout it wrote; what the pipeline calls a Builder.

    `scan` searches the finished layout for registered secrets, before any push. `load`:
    the engine behind the default (docker driver) builder gets the image too, tagged, as
    a docker-py build leaves it (for `--no-push`; a push reads the layout only).
    """

    def __init__(self, binary: Path, env: Mapping[str, str], settings: Target, *,
                 progress: Progress = _no_progress, detail: LogSink = _ignore,
                 connect: Connect | None = None, load: bool = True,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._binary = binary
        self._env = dict(env)
        self._settings = settings
        self._progress = progress
        self._detail = detail
        self._connect = connect or connector(settings, sleep)
        self._load = load
        self._sleep = sleep
        self._workdir = Path(tempfile.mkdtemp(prefix="dockyard-buildx-"))  # 0700
        self.layout: Path | None = None
        self._image: Manifest | None = None

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)

    def build(self, build: Build, *, tags: Iterable[str], labels: Mapping[str, str],
              log: LogSink = _ignore) -> str:
        """Build into a fresh OCI layout; return the image's digest (the index's, for
        several platforms or attestations), which is its id from here on."""
        layout = Path(tempfile.mkdtemp(prefix="layout-", dir=self._workdir))
        metadata = self._workdir / "metadata.json"
        metadata.unlink(missing_ok=True)
        command = invocation(str(self._binary), build, tags=list(tags), labels=labels,
                             layout=layout, metadata=metadata,
                             load=self._load and build.buildkit.builder is None)
        progress = _Progress(log, self._progress)
        try:
            process = subprocess.Popen(command.argv, env={**self._env, **command.env},
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
        except OSError as exc:
            raise BuildError(f"cannot run {self._binary}: {exc.strerror}",
                             hint="check the buildx installation (`docker buildx version`)") \
                from None
        assert process.stderr is not None
        with process:
            for event in read_events(process.stderr):
                progress.event(event)
        if process.returncode != 0:
            raise progress.failure(build, process.returncode)
        image = Layout(layout).image()
        found = _metadata_digest(metadata)
        if found and found != image.digest:
            raise BuildError(f"buildx reported {found[:19]}, but its OCI layout holds "
                             f"{image.digest[:19]}", log_tail=progress.tail)
        self.layout, self._image = layout, image
        return image.digest

    def scan(self, image_id: str, found: imagescan.Needles) -> imagescan.ScanReport:
        """The layout this build wrote, searched for registered secrets (before the push)."""
        assert self.layout is not None, "scan() before build()"
        return imagescan.scan_layout(self.layout, found)

    def tag(self, image_id: str, reference: str) -> None:
        """Nothing to do: the push writes the tag it is given, from the layout."""

    def push(self, repository: str, tag: str, credentials: Credentials | None) -> PushResult:
        """Upload the layout's image to `repository` (blobs it lacks, children, the index)
        and point `tag` at it."""
        if self.layout is None or self._image is None:
            raise PublishError(f"nothing to push to {repository}: no buildx build ran")
        image, name = self._image, parse_image(repository)
        with self._connect(name.host, credentials) as client:
            copy_manifest(Layout(self.layout), "", image, client, name.path,
                          policy=retry_policy(self._settings), sleep=self._sleep,
                          log=self._detail)
            client.put_manifest(name.path, tag, image)
        return PushResult(digest=image.digest, size=len(image.content))

    def registry_credentials(self, host: str) -> Credentials | None:
        return docker_config_credentials(host)


def _metadata_digest(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    digest = data.get("containerimage.digest") if isinstance(data, dict) else None
    return digest if isinstance(digest, str) else None


def read_events(stream: IO[bytes]) -> Iterator[dict[str, Any] | str]:
    """buildx's stderr with --progress=rawjson: JSON objects (one per progress update,
    pretty-printed over several lines) and, around them, plain lines (its final error,
    the Dockerfile excerpt). Yields each object as a dict and each other line as text."""
    decoder = json.JSONDecoder()
    buffer = ""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        if not buffer and not line.startswith("{"):
            if line.strip():
                yield line.rstrip("\n")
            continue
        buffer += line
        try:
            value, _ = decoder.raw_decode(buffer)
        except ValueError:
            if len(buffer) > 64 * 1024 * 1024:  # no JSON: give it back as text
                yield from buffer.splitlines()
                buffer = ""
            continue
        buffer = ""
        if isinstance(value, dict):
            yield value
    if buffer.strip():
        yield from buffer.splitlines()


class _Progress:
    """rawjson events as build-log lines, in buildx's plain-progress style (`#3 RUN ...`,
    `#3 CACHED`, `#3 DONE 1.2s`); the last lines kept for a failure's message."""

    def __init__(self, log: LogSink, transfer: Progress) -> None:
        self._log = log
        self._transfer = transfer
        self._numbers: dict[str, int] = {}
        self._done: set[str] = set()
        self._names: dict[str, str] = {}
        self._errors: list[tuple[str, str]] = []  # (step name, error)
        self._text: list[str] = []
        self._partial: dict[str, bytes] = {}  # per step, output after its last newline
        self.tail: deque[str] = deque(maxlen=_LOG_TAIL)

    def _say(self, line: str) -> None:
        self.tail.append(plain_text(line))
        self._log(line)

    def _number(self, digest: str) -> int:
        return self._numbers.setdefault(digest, len(self._numbers) + 1)

    def event(self, event: dict[str, Any] | str) -> None:
        if isinstance(event, str):
            self._text.append(event)
            self._say(event)
            return
        for vertex in _entries(event, "vertexes"):
            self._vertex(vertex)
        for status in _entries(event, "statuses"):
            total = status.get("total")
            if isinstance(status.get("current"), int) and status.get("id"):
                self._transfer(str(status["id"]), int(status["current"]),
                               int(total) if isinstance(total, int) else None)
        for entry in _entries(event, "logs"):
            digest = str(entry.get("vertex") or "")
            try:
                data = base64.b64decode(str(entry.get("data") or ""))
            except ValueError:
                continue
            # Whole lines only: a chunk may end mid-line, and a secret cut in two would
            # escape redaction. The rest waits for its newline (or the step's end).
            *lines, self._partial[digest] = (self._partial.get(digest, b"") + data).split(b"\n")
            for line in lines:
                self._output(digest, line)

    def _output(self, digest: str, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        if text.strip():
            self._say(f"#{self._number(digest)} {text}")

    def _vertex(self, vertex: Mapping[str, Any]) -> None:
        digest = str(vertex.get("digest") or "")
        name = str(vertex.get("name") or "")
        number = self._number(digest)
        if digest not in self._names:
            self._names[digest] = name
            self._say(f"#{number} {name}")
        if digest in self._done:
            return
        if vertex.get("completed") or vertex.get("error") or vertex.get("cached"):
            self._output(digest, self._partial.pop(digest, b""))  # its last, unended line
        if vertex.get("error"):
            self._done.add(digest)
            self._errors.append((name, str(vertex["error"])))
            self._say(f"#{number} ERROR: {vertex['error']}")
        elif vertex.get("cached"):
            self._done.add(digest)
            self._say(f"#{number} CACHED")
        elif vertex.get("completed"):
            self._done.add(digest)
            self._say(f"#{number} DONE {_seconds(vertex)}")

    def failure(self, build: Build, code: int) -> DockyardError:
        """The build's failure as docker-py's path words it: the step, the error, the
        Dockerfile line. A builder that does not exist is bad input (exit 2)."""
        errors = [(name, error) for name, error in self._errors if "canceled" not in error]
        step, error = errors[0] if errors else ("", "")
        final = next((line.removeprefix("ERROR: ") for line in reversed(self._text)
                      if line.startswith("ERROR:")), "")
        if _NO_BUILDER.fullmatch(final) and build.buildkit.builder:
            return InputError(f"build.builder: buildx has no builder "
                              f"'{build.buildkit.builder}' here; nothing was built",
                              hint="create it (`docker buildx create --name "
                                   f"{build.buildkit.builder} ...`, see docs/building.md), "
                                   "or name one that `docker buildx ls` lists")
        message = error or final or f"buildx exited with status {code}"
        where = f" at {plain_text(step)}" if step else ""
        located = next((m for m in map(_LOCATED.match, self._text) if m), None)
        quoted = dockerfile_line(build, int(located["line"])) if located else ""
        return BuildError(f"the build failed{where}: {plain_text(message)}{quoted}",
                          log_tail=self.tail, hint=_hint(final or message))


def _hint(message: str) -> str | None:
    if "docker driver" in message or "containerd image store" in message:
        return ("this engine's builder cannot write an OCI layout: use Docker 23+ with the "
                "containerd image store, or a docker-container/remote builder "
                "(build.builder); see docs/building.md")
    return None


def _entries(event: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    found = event.get(key)
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def _seconds(vertex: Mapping[str, Any]) -> str:
    try:
        started = datetime.fromisoformat(str(vertex["started"]))
        completed = datetime.fromisoformat(str(vertex["completed"]))
    except (KeyError, ValueError):
        return ""
    return f"{(completed - started).total_seconds():.1f}s"
