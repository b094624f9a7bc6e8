"""The Docker engine, through docker-py: the only module that imports `docker`.

docker-py reports build and push failures inside the streamed output rather than by
raising, so every stream is read to the end and every item checked for an error. What
docker-py does raise is told by the engine's own message (`_describe`), never by the
exception's text: that quotes the request URL, whose query carries the build args and
labels.
"""

from __future__ import annotations

import gc
import io
import json
import re
import tarfile
import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.auth
import docker.errors
import requests

from dockyard import imagescan
from dockyard.ci import strip_credentials
from dockyard.errors import BuildError, EngineError, PublishError
from dockyard.remedies import registry_remedy
from dockyard.secrets import Secret
from dockyard.settings import Build, Credentials

LogSink = Callable[[str], None]
Progress = Callable[[str, int, "int | None"], None]
_LOG_TAIL = 20
_TAGGERS = 4  # tag requests at a time (docker-py's pool holds 10 connections)
_STEP = re.compile(r"^Step \d+/\d+ : ")
# What a Dockerfile's double-quoted word cannot hold as it is: a line break or another
# control character ends or breaks the line.
_NOT_IN_A_DOCKERFILE = re.compile(r"[\x00-\x1f\x7f]")
# ANSI escape sequences (CSI and OSC) and the other control characters but tab
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|"
                      r"\x1b[@-_]?|[\x00-\x08\x0b-\x1f\x7f]")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S*|\bwith url: \S*", re.IGNORECASE)
_PARSE_LINE = re.compile(r"dockerfile parse error (?:on )?line (\d+)", re.IGNORECASE)
_QUOTED_LINE_MAX = 160
_SAVE_CHUNK = 1 << 20
_EMPTY_EXPORT = "empty export"  # the classic store's refusal to save a layerless image
# How the containerd image store (Docker 26) reports a push: in a status line, no aux item.
_PUSHED = re.compile(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: (\d+)$")


@dataclass(frozen=True)
class PushResult:
    digest: str
    size: int | None


def _ignore(_: str) -> None:
    pass


def _no_progress(task: str, current: int, total: int | None) -> None:
    pass


def shown_host(env: Mapping[str, str]) -> str:
    """The engine's address as messages show it: DOCKER_HOST without its user and
    password (`tcp://user:password@host`, for an engine behind an authenticating proxy),
    which are registered for masking wherever docker-py quotes them."""
    return strip_credentials(env.get("DOCKER_HOST") or "unix:///var/run/docker.sock")


class Engine:
    """A connection to one Docker engine.

    `progress` hears the bytes of each layer upload (task, current, total); `detail`
    hears per-layer status lines (Preparing, Pushed, Layer already exists...).
    """

    def __init__(self, client: Any, *, progress: Progress = _no_progress,
                 detail: LogSink = _ignore) -> None:
        self._client = client
        self._progress = progress
        self._detail = detail

    @classmethod
    def connect(cls, env: Mapping[str, str], *, progress: Progress = _no_progress,
                detail: LogSink = _ignore) -> Engine:
        """Connect as the docker CLI would: DOCKER_HOST, else the default socket."""
        client = None
        try:
            client = docker.from_env(environment=dict(env))
            client.ping()
        except (docker.errors.DockerException, requests.RequestException) as exc:
            problem = _describe(exc)
        else:
            return cls(client, progress=progress, detail=detail)
        # Outside the except block, so the traceback no longer pins the failed socket.
        if client is not None:
            client.close()
        _collect_leaked_socket()
        raise EngineError(
            f"cannot reach the Docker engine at {shown_host(env)}: {problem}",
            hint="start it (`sudo systemctl start docker`, or `dockerd &`) "
                 "or point DOCKER_HOST at a running engine",
        )

    def close(self) -> None:
        self._client.close()

    def build(self, build: Build, *, tags: Iterable[str], labels: Mapping[str, str],
              log: LogSink = _ignore) -> str:
        """Build the image, stream its log to `log`, return the image id.

        The labels are set in one LABEL step: the legacy builder turns the build API's
        `labels` into one LABEL step (one container) each. The step ends a copy of the
        Dockerfile, sent beside the context; where it cannot (a `target` stage, an escape
        directive), a second build `FROM` the first sets them. Only labels that no
        Dockerfile line can hold (a line break) go through the API's `labels`.
        """
        tags = list(tags)
        first = tags[0] if tags else None
        step = label_step(labels)
        options: dict[str, Any] = {
            "path": str(build.context), "dockerfile": build.dockerfile,
            "buildargs": dict(build.args), "target": build.target, "pull": build.pull,
            "nocache": build.no_cache}
        if step is None:
            image_id = self._build(build, log, labels=dict(labels) or None, tag=first,
                                   **options)
        elif (text := _with_step(build, step)) is not None:
            with tempfile.TemporaryDirectory(prefix="dockyard-") as scratch:
                dockerfile = Path(scratch) / "Dockerfile"  # outside the context: docker-py
                dockerfile.write_text(text, encoding="utf-8")  # sends it beside the context
                image_id = self._build(build, log, tag=first,
                                       **{**options, "dockerfile": str(dockerfile)})
        else:
            built = self._build(build, log, **options)
            text = f"FROM {built.removeprefix('sha256:')}\n{step}\n"
            image_id = self._build(build, log, fileobj=io.BytesIO(text.encode()), tag=first)
        self._tag_all(image_id, tags[1:])
        return image_id

    def _tag_all(self, image_id: str, references: Sequence[str]) -> None:
        """Each reference tagged; a few requests at a time, as each is one small call
        that mostly waits on the engine (9 tags: 0.35 s one after another)."""
        if len(references) < 2:
            for reference in references:
                self.tag(image_id, reference)
            return
        with ThreadPoolExecutor(max_workers=_TAGGERS, thread_name_prefix="tag") as pool:
            for done in [pool.submit(self.tag, image_id, each) for each in references]:
                done.result()  # the first failure, in the order the tags were asked for

    def _build(self, build: Build, log: LogSink, **options: Any) -> str:
        """One build through the engine's build API; its image id."""
        tail: deque[str] = deque(maxlen=_LOG_TAIL)
        step = ""
        image_id = ""
        try:
            stream = self._client.api.build(rm=True, forcerm=True, decode=True, **options)
            error = None
            for item in stream:  # read to the end, so the connection goes back to the pool
                error = error or _error_of(item)
                text = item.get("stream")
                if text:
                    for line in text.rstrip().split("\n"):
                        if not line.strip():
                            continue
                        tail.append(plain_text(line))
                        if _STEP.match(line):
                            step = line
                        log(line)
                aux = item.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = aux["ID"]
        except (docker.errors.DockerException, requests.RequestException) as exc:
            problem = _describe(exc)
            raise BuildError(f"the build failed: {problem}{_dockerfile_line(build, problem)}",
                             log_tail=tail) from exc
        if error is not None:
            where = f" at {plain_text(step)}" if step else ""
            raise BuildError(f"the build failed{where}: {plain_text(error)}"
                             f"{_dockerfile_line(build, error)}", log_tail=tail)
        if not image_id:
            raise BuildError("the engine finished the build without an image id", log_tail=tail)
        return image_id

    def tag(self, image_id: str, reference: str) -> None:
        repository, tag = reference.rsplit(":", 1)
        try:
            self._client.api.tag(image_id, repository, tag=tag, force=True)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot tag {image_id} as {reference}: {_describe(exc)}") \
                from exc

    def push(self, repository: str, tag: str, credentials: Credentials | None) -> PushResult:
        """Push one tag; raise PublishError with the registry's own message on failure."""
        auth = None
        if credentials is not None:
            auth = {"username": credentials.username, "password": credentials.password.reveal()}
        digest = ""
        size = None
        try:
            stream = self._client.api.push(repository, tag=tag, auth_config=auth,
                                           stream=True, decode=True)
            error = None
            for item in stream:  # read to the end, so the connection goes back to the pool
                error = error or _error_of(item)
                aux = item.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest, size = aux["Digest"], aux.get("Size")
                elif not digest and (pushed := _PUSHED.match(str(item.get("status") or ""))):
                    digest, size = pushed[1], int(pushed[2])
                self._report(repository, item)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise PublishError(f"push of {repository}:{tag} failed: {_describe(exc)}") \
                from exc
        if error is not None:
            raise PublishError(f"push of {repository}:{tag} failed: {plain_text(error)}",
                               hint=registry_remedy(error))
        if not digest:
            raise PublishError(f"push of {repository}:{tag} ended without a digest from the "
                               "registry")
        return PushResult(digest=digest, size=size)

    def _report(self, repository: str, item: Mapping[str, Any]) -> None:
        status, layer = item.get("status"), item.get("id")
        detail = item.get("progressDetail") or {}
        if status == "Pushing" and layer and "current" in detail:
            self._progress(f"{repository}: layer {layer}", int(detail["current"]),
                           int(detail["total"]) if detail.get("total") else None)
        elif status and not detail:
            self._detail(f"{repository}: {layer}: {status}" if layer else status)

    def registry_credentials(self, host: str) -> Credentials | None:
        return docker_config_credentials(host)

    def scan(self, image_id: str, found: imagescan.Needles) -> imagescan.ScanReport:
        """The image as the engine exports it, searched for registered secrets."""
        try:
            return imagescan.scan_archive(self.image_archive(image_id), found)
        except EngineError as exc:
            if _EMPTY_EXPORT not in str(exc):
                raise
        # The classic store cannot save an image without layers (FROM scratch and only
        # LABEL, ENV, CMD...); its config and history are all there is to scan.
        return imagescan.scan_archive(self._config_archive(image_id), found)

    def _config_archive(self, image_id: str) -> Iterator[bytes]:
        """A docker-archive of a layerless image: its config and history as the engine
        reports them (`inspect`, `history`), where `docker save` would have put them."""
        try:
            inspected = self._client.api.inspect_image(image_id)
            history = self._client.api.history(image_id)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot read {image_id} back from the engine: "
                              f"{_describe(exc)}") from exc
        config = {"config": inspected.get("Config"),
                  "container_config": inspected.get("ContainerConfig"),
                  "history": [{"created_by": entry.get("CreatedBy") or "",
                               "comment": entry.get("Comment") or "", "empty_layer": True}
                              for entry in reversed(history or [])],
                  "rootfs": {"type": "layers", "diff_ids": []}}
        name = f"{image_id.removeprefix('sha256:')}.json"
        manifest: list[dict[str, Any]] = [{"Config": name, "RepoTags": None, "Layers": []}]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for member, document in ((name, config), ("manifest.json", manifest)):
                data = json.dumps(document).encode()
                info = tarfile.TarInfo(member)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        yield buffer.getvalue()

    def image_archive(self, image_id: str) -> Iterator[bytes]:
        """The image as `docker save` writes it, streamed: a docker-archive from the
        classic image store, an OCI layout in a tar from the containerd store."""
        try:
            yield from self._client.api.get_image(image_id, chunk_size=_SAVE_CHUNK)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot read {image_id} back from the engine: "
                              f"{_describe(exc)}") from exc


def docker_config_credentials(host: str) -> Credentials | None:
    """What `docker login` stored for `host` (config file or credential helper): the
    credentials `docker push` uses for a host without an entry under `registries:`."""
    try:
        config = docker.auth.load_config()
        found = docker.auth.resolve_authconfig(config, registry=host) or {}
    except (docker.errors.DockerException, OSError, ValueError):
        return None
    username = found.get("username") or found.get("Username")
    password = found.get("password") or found.get("Password")
    if not username or not password:
        return None
    return Credentials(username=str(username), password=Secret(str(password)))


def _collect_leaked_socket() -> None:
    """docker-py leaves the socket of a failed unix-socket connect open; close it now.

    Left to the garbage collector it surfaces later as an unraisable ResourceWarning in
    whatever code happens to run then.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _error_of(item: Mapping[str, Any]) -> str | None:
    """The engine's error message in a stream item, if it carries one."""
    if "error" not in item and "errorDetail" not in item:
        return None
    detail = item.get("errorDetail") or {}
    return str(detail.get("message") or item.get("error") or "unknown error").strip()


def _describe(exc: BaseException) -> str:
    """What went wrong in the engine's own words: never the exception's text, which
    quotes the request URL (build args, labels, ~900 characters of query)."""
    if isinstance(exc, docker.errors.APIError):
        explanation = exc.explanation
        if isinstance(explanation, bytes):
            explanation = explanation.decode("utf-8", "replace")
        message = _first_line(str(explanation or ""))
        status = exc.status_code
        if not message:
            return f"the engine answered HTTP {status}" if status else type(exc).__name__
        return message
    if isinstance(exc, requests.Timeout):
        return "the engine did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "the connection to the engine failed"
    if isinstance(exc, requests.RequestException):
        return type(exc).__name__
    return _first_line(str(exc)) or type(exc).__name__


def _first_line(text: str) -> str:
    lines = plain_text(_URL.sub("<url>", text)).strip().splitlines()
    return lines[0].strip() if lines else ""


def plain_text(text: str) -> str:
    """`text` without ANSI escapes or other control characters (a build log's colours)."""
    return _CONTROL.sub("", text)


def _dockerfile_line(build: Build, message: str) -> str:
    """The Dockerfile line a parse error names, quoted after the engine's message."""
    match = _PARSE_LINE.search(message)
    if match is None:
        return ""
    return dockerfile_line(build, int(match[1]))


def dockerfile_line(build: Build, number: int) -> str:
    """Line `number` of the build's Dockerfile, quoted for an error message ("" when
    there is no such line)."""
    try:
        with (build.context / build.dockerfile).open(encoding="utf-8",
                                                      errors="replace") as file:
            text = next((line for index, line in enumerate(file, 1) if index == number), None)
    except OSError:
        return ""
    if text is None:
        return ""
    text = plain_text(text).strip()
    if len(text) > _QUOTED_LINE_MAX:
        text = text[:_QUOTED_LINE_MAX] + "..."
    return f"\n  {build.dockerfile} line {number}: {text}"


def label_step(labels: Mapping[str, str]) -> str | None:
    """`LABEL "key"="value" ...`: every label in one Dockerfile instruction, quoted so that
    the builder reads each as written (no variable expansion); None when there are none,
    or when one cannot be written on a Dockerfile line."""
    if not labels or any(_NOT_IN_A_DOCKERFILE.search(text)
                         for item in labels.items() for text in item):
        return None
    return "LABEL " + " ".join(f"{_quoted(key)}={_quoted(value)}"
                               for key, value in labels.items())


_ESCAPE_DIRECTIVE = re.compile(r"#\s*escape\s*=", re.IGNORECASE)


def _with_step(build: Build, step: str) -> str | None:
    """The Dockerfile with `step` as its last line, when that puts the labels on the image
    built: not with a `target` (the step would end the last stage, not the target), nor
    when the file sets its own escape character or ends in a line continuation."""
    if build.target:
        return None
    try:
        text = (build.context / build.dockerfile).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # the build itself says what is wrong with it
    if any(_ESCAPE_DIRECTIVE.match(line) for line in text.splitlines()[:5]) or \
            text.rstrip().endswith("\\"):
        return None
    return f"{text.rstrip()}\n{step}\n"


def _quoted(text: str) -> str:
    """A double-quoted Dockerfile word: a backslash before `\\`, `"` and `$` drops, and
    the character stays as it is."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'
