"""What a CI shows and hands on: masks, log sections, annotations, step outputs, reports.

The CLI picks a reporter from the CI's own variables; nothing needs turning on:

- GitHub Actions (`GITHUB_ACTIONS=true`): `::add-mask::` for every secret the moment
  settings are read, `::group::` sections, `::error file=...,line=...::` annotations on the
  config file, step outputs in `GITHUB_OUTPUT` (metadata-action's version, tags,
  tag-names, labels, annotations, json and bake-file-* outputs, and digest and pushed;
  see dockyard.ci.metadata_outputs), the same as `DOCKER_METADATA_OUTPUT_*` variables in
  `GITHUB_ENV`, and a job summary in `GITHUB_STEP_SUMMARY` (registries, tags, digests).
- GitLab CI (`GITLAB_CI=true`): collapsible `section_start`/`section_end` sections. The
  dotenv report is written where `--dotenv PATH` says (it must match the job's
  `artifacts:reports:dotenv`), within GitLab's limits.

`dockyard prune`'s record hands on its own outputs instead (dockyard.ci.prune_outputs):
`json`, `to-delete` and `deleted`, and the summary of what goes; no metadata-action output.
- Elsewhere: nothing beyond the usual output.

Everything written here passes through `secrets.redact` except the mask commands, whose
whole point is to carry the value to the runner (which never shows them).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dockyard import secrets
from dockyard.ci import prune_outputs, value
from dockyard.ci.metadata_outputs import (
    DEFAULT_BAKE_TARGET,
    Separators,
    action_outputs,
    env_name,
    pushed_references,
    write_bake_files,
)
from dockyard.errors import ConfigError, DockyardError

if TYPE_CHECKING:
    from dockyard.settings import Settings

GITHUB_OUTPUTS = ("version", "tags", "tag-names", "labels", "annotations", "digest", "json",
                  "pushed")
NEWLINES = Separators()
# What metadata-action exports as DOCKER_METADATA_OUTPUT_* (and the bake-file-* paths)
_EXPORTED = ("version", "tags", "tag-names", "labels", "annotations", "json")
# GitLab's limits for a dotenv report (plan_limits: dotenv_size, dotenv_variables on Free).
DOTENV_MAX_BYTES = 5120
DOTENV_MAX_VARIABLES = 50
_LINE_PREFIX = re.compile(r"^line (\d+): ")
_FROM_INPUT = re.compile(r"^\S+ \(from DOCKYARD_\w+\): ")


class Reporter:
    """No CI: nothing extra to say or write."""

    def mask(self, values: Iterable[str]) -> None:
        """Tell the CI to hide these values wherever they appear in its log."""

    @contextmanager
    def section(self, name: str, title: str) -> Iterator[None]:
        """A collapsible part of the log."""
        yield

    def error(self, exc: DockyardError) -> None:
        """Point at the problem the way the CI shows problems."""

    def publish(self, record: Mapping[str, Any]) -> None:
        """Hand the result on to later steps and show it on the run's page."""


def _random_delimiter() -> str:
    import uuid  # only GitHub's multi-line step outputs need it

    return f"ghadelimiter_{uuid.uuid4()}"


class GitHubReporter(Reporter):
    """Workflow commands on stderr (the runner reads both streams), files for the rest."""

    def __init__(self, env: Mapping[str, str], stream: TextIO,
                 delimiter: Callable[[], str] = _random_delimiter) -> None:
        self._stream = stream
        self._output = value(env, "GITHUB_OUTPUT")
        self._summary = value(env, "GITHUB_STEP_SUMMARY")
        self._workspace = value(env, "GITHUB_WORKSPACE")
        self._delimiter = delimiter
        self._separators = Separators.from_env(env)
        self._temp = value(env, "RUNNER_TEMP")
        self._bake_target = value(env, "DOCKYARD_BAKE_TARGET") or DEFAULT_BAKE_TARGET
        # metadata-action's switch; on unless `false`
        exports = (value(env, "DOCKER_METADATA_SET_OUTPUT_ENV") or "true").lower() != "false"
        self._env_file = value(env, "GITHUB_ENV") if exports else None

    def mask(self, values: Iterable[str]) -> None:
        for secret in values:
            # A multi-line value is masked line by line, as the runner matches lines.
            for line in secret.splitlines():
                if line.strip():
                    self._command(f"::add-mask::{line}")

    @contextmanager
    def section(self, name: str, title: str) -> Iterator[None]:
        self._command(f"::group::{_escape_data(secrets.redact(title))}")
        try:
            yield
        finally:
            self._command("::endgroup::")

    def error(self, exc: DockyardError) -> None:
        for line in error_commands(exc, self._workspace):
            self._command(line)

    def publish(self, record: Mapping[str, Any]) -> None:
        if record.get("command") == "prune":
            self._publish_prune(record)
            return
        files: dict[str, Path] = {}
        if self._temp and (self._output or self._env_file):
            files = write_bake_files(Path(self._temp) / "dockyard", "dockyard", record,
                                     self._bake_target)
        if self._output:
            _append(self._output, github_outputs(record, self._delimiter, self._separators,
                                                 files))
        if self._env_file:
            _append(self._env_file, github_env(record, self._delimiter, self._separators,
                                               files))
        if self._summary:
            _append(self._summary, summary_markdown(record))

    def _publish_prune(self, record: Mapping[str, Any]) -> None:
        """Prune's own outputs; metadata-action's (and DOCKER_METADATA_OUTPUT_*) are left
        as an earlier build step of the job set them."""
        if self._output:
            values = prune_outputs.github_values(record, self._separators.tags)
            values["json"] = json.dumps(secrets.redact_data(record), sort_keys=False)
            _append(self._output, _heredocs(values, self._delimiter))
        if self._summary:
            _append(self._summary, summary_markdown(record))

    def _command(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()


class GitLabReporter(Reporter):
    """Collapsible sections in the job log."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.time) -> None:
        self._stream = stream
        self._clock = clock

    @contextmanager
    def section(self, name: str, title: str) -> Iterator[None]:
        self._stream.write(section_start(name, secrets.redact(title), int(self._clock())))
        self._stream.flush()
        try:
            yield
        finally:
            self._stream.write(section_end(name, int(self._clock())))
            self._stream.flush()


def reporter_for(env: Mapping[str, str], stream: TextIO) -> Reporter:
    """The reporter for the CI these variables describe; `stream` is the raw stderr."""
    if value(env, "GITHUB_ACTIONS") == "true":
        return GitHubReporter(env, stream)
    if value(env, "GITLAB_CI") == "true":
        return GitLabReporter(stream)
    return Reporter()


# --- GitHub ---------------------------------------------------------------------------


def output_values(record: Mapping[str, Any],
                  separators: Separators = NEWLINES) -> dict[str, str]:
    """Every step output's value, by name (GITHUB_OUTPUTS)."""
    values = action_outputs(record, separators)
    values["digest"] = record.get("digest") or ""
    # JSON is redacted as data, before it is serialised: never the text of its syntax
    values["json"] = json.dumps(secrets.redact_data(record), sort_keys=False)
    return {name: values[name] for name in GITHUB_OUTPUTS}


def github_outputs(record: Mapping[str, Any], delimiter: Callable[[], str],
                   separators: Separators = NEWLINES,
                   files: Mapping[str, Path] | None = None) -> str:
    """Step outputs in GITHUB_OUTPUT's multi-line form (`name<<DELIM`...`DELIM`)."""
    values = output_values(record, separators)
    values.update({name: str(path) for name, path in (files or {}).items()})
    return _heredocs(values, delimiter)


def github_env(record: Mapping[str, Any], delimiter: Callable[[], str],
               separators: Separators = NEWLINES,
               files: Mapping[str, Path] | None = None) -> str:
    """metadata-action's DOCKER_METADATA_OUTPUT_* variables, in GITHUB_ENV's form."""
    values = output_values(record, separators)
    exported = {env_name(name): values[name] for name in _EXPORTED}
    exported.update({env_name(name): str(path) for name, path in (files or {}).items()})
    return _heredocs(exported, delimiter, raw=env_name("json"))


def _heredocs(values: Mapping[str, str], delimiter: Callable[[], str],
              raw: str = "json") -> str:
    text = []
    for name, item in values.items():
        content = item if name == raw else secrets.redact(item)  # `raw` is redacted JSON
        mark = delimiter()
        while mark in content:  # a value may not contain its own end marker
            mark = delimiter()
        text.append(f"{name}<<{mark}\n{content}\n{mark}\n")
    return "".join(text)


def summary_markdown(record: Mapping[str, Any]) -> str:
    """The job summary: outcome, version, and a table of registries, tags and digests."""
    if record.get("command") == "prune":
        return prune_summary_markdown(record)
    status = record.get("status", "planned")
    icon = {"success": ":white_check_mark:", "failed": ":x:"}.get(status, ":memo:")
    version = record.get("version")
    lines = [f"### {icon} Dockyard: {_code(version) if version else 'no version'} ({status})", ""]
    registries = record.get("registries")
    if registries:
        lines += ["| Image | Status | Tags | Digest |", "| --- | --- | --- | --- |"]
        for entry in registries:
            tags = " ".join(_code(tag) for tag in entry.get("pushed", ()))
            skipped = "<br>".join(f"{_code(s['tag'])} not pushed: {_cell(s['reason'])}"
                                  for s in entry.get("skipped", ()))
            cells = [_code(entry["name"]), _cell(entry["status"]),
                     "<br>".join(part for part in (tags, skipped) if part) or "none",
                     _code(entry["digest"]) if entry.get("digest") else "none"]
            lines.append("| " + " | ".join(cells) + " |")
    else:
        lines += ["| Tag |", "| --- |"] + [f"| {_code(tag)} |" for tag in record.get("tags", ())]
    if record.get("error"):
        lines += ["", "**Error:**", "", "```", str(record["error"]), "```"]
    return secrets.redact("\n".join(lines)) + "\n\n"


def prune_summary_markdown(record: Mapping[str, Any]) -> str:
    """The job summary of `dockyard prune`: per image, what went (or would), and why."""
    status = record.get("status", "planned")
    icon = {"success": ":white_check_mark:", "failed": ":x:"}.get(status, ":memo:")
    applied = bool(record.get("applied"))
    lines = [f"### {icon} Dockyard prune ({'applied' if applied else 'dry run'}, {status})",
             "", "| Image | Status | Tags | " + ("Deleted" if applied else "To delete") + " |",
             "| --- | --- | --- | --- |"]
    for repo in record.get("repositories") or ():
        going = "<br>".join(f"{_code(v['tag'])}: {_cell(v['reason'])}"
                            for v in repo.get("delete", ())) or "none"
        lines.append(f"| {_code(repo['name'])} | {_cell(repo['status'])} | "
                     f"{repo.get('tags', 0)} | {going} |")
        if repo.get("error"):
            lines.append(f"| | {_cell(repo['error'])} | | |")
    return secrets.redact("\n".join(lines)) + "\n\n"


def error_commands(exc: DockyardError, workspace: str | None) -> list[str]:
    """`::error` commands: one per config problem, on its file and line when known."""
    if isinstance(exc, ConfigError):
        source = exc.source
        file = _relative(source, workspace) if Path(source).is_file() else None
        commands = []
        for problem in exc.problems:
            match = _LINE_PREFIX.match(problem)
            # A problem in a wrapper's input is not on any line of the file.
            on_file = file if match or not _FROM_INPUT.search(problem) else None
            properties = {"file": on_file, "line": match[1] if match and on_file else None,
                          "title": "Dockyard configuration"}
            text = problem[match.end():] if match and on_file else problem
            if not on_file:
                text = f"{source}: {text}"
            commands.append(_command("error", properties, text))
        return commands
    return [_command("error", {"title": f"Dockyard {type(exc).__name__}"}, str(exc))]


def _command(kind: str, properties: Mapping[str, str | None], message: str) -> str:
    props = ",".join(f"{k}={_escape_property(v)}" for k, v in properties.items() if v)
    return f"::{kind} {props}::{_escape_data(secrets.redact(message))}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _relative(path: str, workspace: str | None) -> str:
    if workspace:
        try:
            return str(Path(path).resolve().relative_to(Path(workspace).resolve()))
        except ValueError:
            pass
    return path


def _code(text: str) -> str:
    return f"`{_cell(text).replace('`', '')}`"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _append(path: str, text: str) -> None:
    try:
        with Path(path).open("a", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        raise DockyardError(f"cannot write to {path}: {exc.strerror}",
                            hint="the runner provides this file; check the variable") from exc


# --- GitLab ---------------------------------------------------------------------------


def section_start(name: str, title: str, timestamp: int) -> str:
    return f"\x1b[0Ksection_start:{timestamp}:{_section_name(name)}[collapsed=true]\r" \
           f"\x1b[0K{title}\n"


def section_end(name: str, timestamp: int) -> str:
    return f"\x1b[0Ksection_end:{timestamp}:{_section_name(name)}\r\x1b[0K\n"


def _section_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def dotenv(record: Mapping[str, Any]) -> str:
    """The dotenv report: version, digest and main tag first, more only while it fits
    (prune's: status, applied, what was deleted and what the policy deletes).

    GitLab takes one `NAME=value` a line, no quotes (they would be kept), no empty lines
    or comments, at most 5 KiB and 50 variables; a value that cannot be one line, or a
    variable that would cross a limit, is left out rather than break the report.
    """
    if record.get("command") == "prune":
        candidates = prune_outputs.dotenv_candidates(record)
    else:
        tags = list(record.get("tags") or ())
        candidates = [
            ("DOCKYARD_VERSION", record.get("version") or ""),
            ("DOCKYARD_DIGEST", record.get("digest") or ""),
            ("DOCKYARD_TAG", tags[0] if tags else ""),
            ("DOCKYARD_STATUS", record.get("status") or ""),
            ("DOCKYARD_IMAGE_ID", record.get("image_id") or ""),
            ("DOCKYARD_TAGS", " ".join(tags)),  # planned, as metadata-action's `tags`
            ("DOCKYARD_PUSHED", " ".join(pushed_references(record))),  # what landed
        ]
    lines: list[str] = []
    size = 0
    for name, text in candidates:
        text = secrets.redact(str(text)).strip()
        if any(c in text for c in "\r\n\"'") or len(lines) == DOTENV_MAX_VARIABLES:
            continue
        line = f"{name}={text}\n"
        if size + len(line.encode()) > DOTENV_MAX_BYTES:
            continue
        lines.append(line)
        size += len(line.encode())
    return "".join(lines)


def write_dotenv(path: Path, record: Mapping[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dotenv(record), encoding="utf-8")
    except OSError as exc:
        raise DockyardError(f"cannot write the dotenv report to {path}: {exc.strerror}",
                            hint="check that the directory is writable") from exc


def secret_values(settings: Settings) -> list[str]:
    """Every secret a Settings holds, for `Reporter.mask`: never an empty or trivially
    short one (`::add-mask::Bearer ` would mask that word in the whole log)."""
    found = [c.password.reveal() for c in settings.registries.values()]
    for hook in settings.webhooks:
        if hook.secret:
            found.append(hook.secret.reveal())
        if secrets.redact(hook.url) != hook.url:  # a URL that is a credential (Slack-style)
            found.append(hook.url)
        found += [header.reveal() for header in getattr(hook, "headers", {}).values()]
    # Also what was registered elsewhere: credentials stripped from git remote URLs, the
    # CI registry password, a bearer token's word.
    found += [text for text in secrets.known() if text not in found]
    return [text for text in found if secrets.maskable(text)]
