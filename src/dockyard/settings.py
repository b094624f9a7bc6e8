"""Settings: dockyard.yml + environment + flags, validated once and frozen.

Precedence: flags > environment > file > defaults. Every problem is collected and
reported together, each with its key path and (where YAML gives one) its line.
Secrets are wrapped in `Secret` the moment they are read.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from dockyard import payloads, secrets, tagging
from dockyard.annotations import DEFAULT_LEVELS, LEVELS_VARIABLE, level_problems, parse_levels
from dockyard.buildkit import BuildKit, parse_buildkit
from dockyard.ci.inputs import Inputs
from dockyard.errors import ConfigError
from dockyard.image_entry import parse_image_entry
from dockyard.names import image_problem, normalise_host, parse_image
from dockyard.registry_keys import registry_key_problems
from dockyard.retention import Retention, parse_retention
from dockyard.schema import CONFIG_SCHEMA, UPLOADS, conform, did_you_mean, join
from dockyard.secrets import Secret

if TYPE_CHECKING:
    import yaml

DEFAULT_CONFIG = "dockyard.yml"
# Bounds on what reading a config may cost. PyYAML's composer reads ~200 KiB a second
# and recurses per nesting level; a dockyard.yml is a few KiB, a few levels deep.
MAX_CONFIG_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_VALUES = 100_000  # after alias expansion: what a 9-line alias bomb multiplies
_MERGE_TAG = "tag:yaml.org,2002:merge"  # `<<: *defaults` may repeat keys on purpose
DEFAULT_WEBHOOK_TIMEOUT = 10.0
DEFAULT_WEBHOOK_ATTEMPTS = 3
# A timeout or delay, in seconds: a number, more than 0 and at most an hour (.inf, 1e308
# or .nan would never end, or overflow the clock).
MAX_SECONDS = 3600.0
_SECONDS_PROBLEM = f"must be more than 0 seconds and at most {MAX_SECONDS:g} (an hour)"
# Headers Dockyard sets itself: a config header must not change what the body means or
# what vouches for it.
_RESERVED_HEADERS = ("content-type", "content-length", "transfer-encoding", "host",
                     "x-hub-signature-256", "x-dockyard-")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# A header value without its credential: nothing, or an auth scheme and nothing after it
_EMPTY_CREDENTIAL = re.compile(r"\s*(?:(?:bearer|basic|token|digest|apikey|negotiate)\s*)?",
                               re.IGNORECASE)
ZERO_CONFIG_RULES = ("type=schedule", "type=ref,event=branch", "type=ref,event=tag",
                           "type=ref,event=pr", "type=sha")
_VARIABLE = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_REFERENCE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


@dataclass(frozen=True)
class Build:
    context: Path
    dockerfile: str = "Dockerfile"
    args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    pull: bool = False
    no_cache: bool = False
    # secrets, ssh, platforms, cache, attestations, builder, backend (docs/building.md)
    buildkit: BuildKit = field(default_factory=BuildKit)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: Secret
    # For a registry whose deletes take its own API (Quay, GitLab): the token for that API.
    api_token: Secret | None = None


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: Secret | None = None
    required: bool = False
    timeout: float = DEFAULT_WEBHOOK_TIMEOUT
    events: tuple[str, ...] = payloads.EVENTS
    format: str = "dockyard"
    headers: Mapping[str, Secret] = field(default_factory=dict)  # values may hold tokens
    max_attempts: int = DEFAULT_WEBHOOK_ATTEMPTS
    # The config names a secret whose value is empty (a fork PR's secrets are withheld):
    # deliveries go unsigned, and the run says so.
    secret_empty: bool = False


@dataclass(frozen=True)
class Publishing:
    """How the image reaches the registries, how patiently they are retried (`publish:`)."""

    retries: int = 4  # attempts after the first, for transient failures only
    backoff_seconds: float = 1.0  # the first delay; doubled per attempt, with jitter
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 60.0  # per registry request
    # "once": the engine pushes to one registry, the others copy from it; "each": the
    # engine pushes to every registry
    upload: str = "once"
    # Registries reached as the engine's insecure-registries are: HTTPS without checking
    # the certificate, or plain HTTP
    insecure: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    source: str  # the config file's path, or a description of the defaults used
    images: tuple[str, ...]
    tag_rules: tuple[tagging.TagRule, ...] | None  # None: metadata-action's defaults
    flavor: tagging.Flavor
    labels: Mapping[str, str]
    build: Build
    registries: Mapping[str, Credentials]
    webhooks: tuple[Webhook, ...]
    push: bool = True
    force: bool = False
    zero_config: bool = False  # no config file: local build under a derived name
    notes: tuple[str, ...] = ()  # what was adjusted, for the CLI to tell
    publishing: Publishing = Publishing()
    retention: Retention = Retention()  # what `dockyard prune` keeps
    annotations: Mapping[str, str] = field(default_factory=dict)  # the user's, as labels
    annotation_levels: tuple[str, ...] = DEFAULT_LEVELS
    # The user asked for annotations (annotations or levels given): publishing writes
    # them into what it pushes (dockyard.publish.annotate)
    apply_annotations: bool = False

    def credentials_for(self, image: str) -> Credentials | None:
        return self.registries.get(parse_image(image).host)


@dataclass(frozen=True)
class Overrides:
    """What flags say; None means the flag was not given."""

    push: bool | None = None
    force: bool | None = None
    # A CI wrapper's inputs (DOCKYARD_IMAGES...), merged over the file's keys.
    inputs: Inputs = field(default_factory=Inputs)
    # False for commands that build nothing (promote): the build context and Dockerfile
    # need not exist then.
    building: bool = True
    # The CI withholds secrets from this job (a fork's PR): a variable that only pushing
    # or notifying needs may be unset.
    secrets_withheld: bool = False
    # `plan` computes tags only: a variable that only pushing or notifying needs may be
    # unset, and the Dockerfile may be missing; each is noted.
    planning: bool = False
    # The only registry hosts this command talks to, when it builds nothing and notifies
    # no one (promote): the webhooks, build secrets and other hosts' `registries:` entries
    # go unused, so their variables may be unset.
    hosts: frozenset[str] | None = None


def find_config(workdir: Path, explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read: --config, then DOCKYARD_CONFIG, then ./dockyard.yml."""
    chosen = explicit or env.get("DOCKYARD_CONFIG")
    if chosen:
        path = workdir / chosen
        if path.is_dir():
            raise ConfigError(chosen, [_directory_problem(path, chosen)])
        if not path.is_file():
            raise ConfigError(chosen, ["the config file does not exist; check the path "
                                       f"(looked in {workdir})"])
        return path
    default = workdir / DEFAULT_CONFIG
    return default if default.is_file() else None


def _directory_problem(path: Path, chosen: str) -> str:
    """What to say when --config (or DOCKYARD_CONFIG) names a directory."""
    meant = Path(chosen) / DEFAULT_CONFIG
    if (path / DEFAULT_CONFIG).is_file():
        return f"is a directory, not a config file: did you mean {meant}?"
    return (f"is a directory, not a config file, and holds no {DEFAULT_CONFIG}: name the "
            f"file itself, such as {meant}")


def load_settings(
    path: Path, env: Mapping[str, str], overrides: Overrides = Overrides()
) -> Settings:
    """Read, interpolate and validate a config file; raise ConfigError with every problem."""
    source = str(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [f"cannot read the file: {exc}"]) from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(source, [f"the file is larger than {MAX_CONFIG_BYTES // 1024} KiB; "
                                   "a dockyard.yml takes a few KiB: check that this is the "
                                   "right file"])
    data, lines, problems = _parse_yaml(text, source)
    return _settle(data, lines, path.parent, source, env, overrides, problems)


def settings_from_inputs(
    workdir: Path, env: Mapping[str, str], overrides: Overrides
) -> Settings:
    """No config file, but a CI wrapper's inputs name the images: they are the config."""
    return _settle({}, {}, workdir, f"inputs (no {DEFAULT_CONFIG})", env, overrides)


def _settle(data: Any, lines: Mapping[str, int], base: Path, source: str,
            env: Mapping[str, str], overrides: Overrides,
            found: Sequence[tuple[str, str]] = ()) -> Settings:
    """Merge the inputs over the parsed file, interpolate, validate and build."""
    data = overrides.inputs.over(data)
    problems: list[tuple[str, str]] = []
    data = _interpolate(data, env, "", problems)
    _register_urls(data)  # before validation: its errors may quote a URL
    withheld: list[str] = []
    if overrides.secrets_withheld:
        data, problems, withheld = _without_withheld(data, problems)
    elif overrides.planning:
        data, problems, withheld = _without_withheld(data, problems, planning=True)
    if overrides.hosts is not None:
        data, problems = _only_for(data, problems, overrides.hosts)
    unresolved = {where for where, _ in problems}
    problems += found  # the file's own (duplicate keys)
    # A value whose variable is missing would only add a second, misleading problem.
    data, refused = conform(data, CONFIG_SCHEMA, "")
    problems += [p for p in refused if p[0] not in unresolved]
    # The rest is checked on what the schema let through, so that every problem is
    # reported at once; one about a refused value (or its parent) would be a repeat.
    flagged = frozenset(where for where, _ in problems)
    settings, more = _build(data, base, source, env, overrides, flagged)
    problems += [p for p in more if not _related(p[0], flagged)]
    if problems or settings is None:
        raise ConfigError(source, _located(problems, lines, overrides.inputs))
    return replace(settings, notes=(*settings.notes, *withheld)) if withheld else settings


def _needed_to_publish(path: str) -> bool:
    """Whether the value at `path` is needed only to push (credentials) or to notify."""
    return path.startswith(("registries.", "webhooks["))


_WITHHELD = "{where} uses a variable that is not set (a pull request from a fork gets no " \
    "secrets): read as empty"
_WITHHELD_BUILD = "{where} uses a variable that is not set (a pull request from a fork gets " \
    "no secrets): the build runs without that secret, and a `RUN --mount=type=secret` " \
    "that requires it fails"
_UNSET_FOR_PLAN = "{where} {problem}: `run` needs it to {needs}; `plan` goes on without it"


def _without_withheld(data: Any, problems: list[tuple[str, str]], *, planning: bool = False,
                      ) -> tuple[Any, list[tuple[str, str]], list[str]]:
    """A fork PR's config (or `plan`'s) with its withheld or unset variables read as
    empty, and notes saying so.

    A webhook whose URL is withheld cannot be delivered: it is left out; so is a build
    secret whose value is withheld (build-push-action builds such a job with no secret
    too). An empty password or header is then unset like any empty secret (see `_build`)."""
    withheld = [where for where, _ in problems if _withholdable(where)]
    notes = []
    for where, problem in problems:
        if not _withholdable(where):
            continue
        building = _is_build_secret(where)
        if planning:
            notes.append(_UNSET_FOR_PLAN.format(
                where=where, problem=problem.split(";")[0],
                needs="build" if building else "push or notify"))
        else:
            notes.append((_WITHHELD_BUILD if building else _WITHHELD).format(where=where))
    hooks = data.get("webhooks") if isinstance(data, dict) else None
    if isinstance(hooks, list):
        dropped = {index for index, hook in enumerate(hooks)
                   if f"webhooks[{index}].url" in withheld
                   or (isinstance(hook, dict) and hook.get("url") == "")}
        notes += [f"webhooks[{index}] is not used in this run: its URL is withheld"
                  for index in sorted(dropped)]
        data = {**data, "webhooks": [h for i, h in enumerate(hooks) if i not in dropped]}
    build = data.get("build") if isinstance(data, dict) else None
    given = build.get("secrets") if isinstance(build, dict) else None
    if isinstance(build, dict) and isinstance(given, dict):
        # `plan` keeps the id: it still says the build needs BuildKit for it
        kept = {key: "" if planning else value for key, value in given.items()
                if planning or f"build.secrets.{key}" not in withheld}
        data = {**data, "build": {**build, "secrets": kept}}
    return data, [p for p in problems if not _withholdable(p[0])], notes


def _only_for(data: Any, problems: list[tuple[str, str]], hosts: frozenset[str],
              ) -> tuple[Any, list[tuple[str, str]]]:
    """The config of a command that uses only the `registries:` entries of `hosts`: the
    others, the webhooks and the build secrets left out, with their problems."""
    if not isinstance(data, dict):
        return data, problems
    entries = data.get("registries")
    entries = entries if isinstance(entries, dict) else {}
    unused = {key for key in entries if normalise_host(str(key)) not in hosts}
    kept = [(where, problem) for where, problem in problems
            if not where.startswith(("webhooks[", "build.secrets."))
            and _registry_key_of(where, entries) not in unused]
    data = {key: value for key, value in data.items() if key != "webhooks"}
    if unused:
        data["registries"] = {key: value for key, value in entries.items() if key not in unused}
    return data, kept


def _registry_key_of(where: str, entries: Mapping[str, Any]) -> str | None:
    """The `registries:` key that `where` is in (the longest that fits: `registries.a.io`
    beside `registries.a.io.example`), None outside `registries:`."""
    return max((key for key in entries if where == f"registries.{key}"
                or where.startswith(f"registries.{key}.")), key=len, default=None)


def _is_build_secret(path: str) -> bool:
    return path.startswith("build.secrets.")


def _withholdable(path: str) -> bool:
    """Whether `path` may be unset in a fork PR's run or in `plan`: credentials, webhooks
    and build secrets, which a CI withholds from forks and a laptop lacks."""
    return _needed_to_publish(path) or _is_build_secret(path)


def _register_urls(data: Any) -> None:
    """Register the credentials any URL-like value carries: webhook URLs, and image names
    or `registries:` keys written as `user:password@host` (refused, but their problems'
    keys quote them)."""
    if not isinstance(data, dict):
        return
    hooks = data.get("webhooks")
    for hook in hooks if isinstance(hooks, list) else ():
        if isinstance(hook, dict) and isinstance(hook.get("url"), str):
            secrets.register_url(hook["url"])
    images = data.get("images")
    names = [i.get("name") if isinstance(i, dict) else i
             for i in (images if isinstance(images, list) else ())]
    registries = data.get("registries")
    hosts = list(registries) if isinstance(registries, dict) else []
    for text in (t for t in (*names, *hosts) if isinstance(t, str)):
        userinfo = text.split("://", 1)[-1].partition("/")[0].rpartition("@")[0]
        user, colon, password = userinfo.partition(":")
        if userinfo:  # `<token>@host` as `https://<token>@host/` is for a webhook
            secrets.register(password if colon else user)


def _related(path: str, flagged: frozenset[str]) -> bool:
    """Whether `path` is one of `flagged`, inside one or holds one."""
    return any(path == f or f.startswith((f"{path}.", f"{path}["))
               or path.startswith((f"{f}.", f"{f}[")) for f in flagged)


def default_settings(
    workdir: Path, name: str, env: Mapping[str, str], overrides: Overrides = Overrides()
) -> Settings:
    """Zero-config: build ./Dockerfile as `name` locally, pushing nothing.

    The tag rules are metadata-action's defaults plus `type=sha`, so that a detached
    checkout (where the defaults give nothing) still gets a tag.
    """
    data = {"images": [name], "push": False, "tags": list(ZERO_CONFIG_RULES)}
    settings, problems = _build(data, workdir, f"defaults (no {DEFAULT_CONFIG})", env,
                                overrides)
    if problems or settings is None:
        raise ConfigError(f"defaults (no {DEFAULT_CONFIG} in {workdir})",
                          [f"{p}: {m}" for p, m in problems])
    return settings


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[str, int], list[tuple[str, str]]]:
    """Parse YAML within bounds; remember the line of every key path; find duplicate keys."""
    import yaml  # only when there is a file to read: importing it takes ~20 ms

    try:
        loader = _bounded_loader()(text)  # the reader refuses control characters already
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_yaml_problem(exc, text)]) from exc
    try:
        node = loader.get_single_node()
        duplicates: list[tuple[str, str]] = []
        if node is not None:
            _check_graph(node, "", 0, {}, set(), duplicates)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_yaml_problem(exc, text)]) from exc
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, ["the file must be a mapping of keys (images:, tags:, ...)"])
    lines: dict[str, int] = {}
    if node is not None:
        _record_lines(node, "", lines)
    return data, lines, duplicates


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    import yaml

    if isinstance(exc, yaml.reader.ReaderError):  # a NUL or another control character
        line = text.count("\n", 0, exc.position) + 1
        return (f"line {line}: the control character U+{exc.character:04X} is not allowed "
                "in YAML; remove it")
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{where}not valid YAML: {problem}"


@functools.cache
def _bounded_loader() -> type[yaml.SafeLoader]:
    """SafeLoader whose composer refuses nesting deeper than MAX_DEPTH (it recurses)."""
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        depth = 0

        def fetch_flow_collection_start(self, TokenClass: type[yaml.Token]) -> None:
            # The scanner looks ahead up to 1024 characters per open bracket: stop early.
            if self.flow_level >= MAX_DEPTH:
                raise yaml.scanner.ScannerError(
                    None, None, f"values are nested deeper than {MAX_DEPTH} levels",
                    self.get_mark())
            super().fetch_flow_collection_start(TokenClass)

        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            if self.depth >= MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"values are nested deeper than {MAX_DEPTH} levels",
                    parent.start_mark if parent is not None else None)
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return BoundedLoader


def _check_graph(node: yaml.Node, path: str, depth: int,
                 seen: dict[int, tuple[int, int]], open_nodes: set[int],
                 duplicates: list[tuple[str, str]]) -> tuple[int, int]:
    """How many values `node` stands for once aliases are expanded, and how many levels
    deep; raise when either passes its bound, or when an alias holds itself. Duplicate
    keys are added to `duplicates`.

    Aliases share composed nodes, so a few lines can stand for billions of values (an
    "alias bomb"); everything after parsing copies them out, so they are counted here.
    """
    import yaml

    def refuse(problem: str) -> NoReturn:
        raise yaml.composer.ComposerError(None, None, problem, node.start_mark)

    if id(node) in open_nodes:
        refuse("an alias refers to a value that contains it; a value cannot hold itself")
    size, height = seen.get(id(node), (1, 1))
    if id(node) not in seen:
        open_nodes.add(id(node))
        for child, child_path in _children(node, path, duplicates):
            child_size, child_height = _check_graph(child, child_path, depth + 1, seen,
                                                    open_nodes, duplicates)
            size, height = size + child_size, max(height, child_height + 1)
        open_nodes.discard(id(node))
        seen[id(node)] = size, height
    if depth + height > MAX_DEPTH:
        refuse(f"values are nested deeper than {MAX_DEPTH} levels (aliases included)")
    if size > MAX_VALUES:
        refuse(f"the file stands for more than {MAX_VALUES} values once aliases are "
               "expanded; a dockyard.yml holds a few dozen (is an alias repeated on purpose?)")
    return size, height


def _children(node: yaml.Node, path: str,
              duplicates: list[tuple[str, str]]) -> list[tuple[yaml.Node, str]]:
    """The nodes under `node`, each with its key path; notes keys given twice."""
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return [(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
    if not isinstance(node, yaml.MappingNode):
        return []
    children: list[tuple[yaml.Node, str]] = []
    first_lines: dict[tuple[str, str], int] = {}
    for key_node, value_node in node.value:
        child = join(path, str(key_node.value))
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
            key = (key_node.tag, key_node.value)
            if key in first_lines:
                duplicates.append((child, f"is given twice (also on line {first_lines[key]}); "
                                          "keep one"))
            first_lines.setdefault(key, key_node.start_mark.line + 1)
        children += [(key_node, path), (value_node, child)]
    return children


def _record_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    import yaml

    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = join(path, str(key_node.value))
            lines[child] = key_node.start_mark.line + 1
            _record_lines(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, f"{path}[{index}]", lines)


def _located(problems: Sequence[tuple[str, str]], lines: Mapping[str, int],
             inputs: Inputs) -> list[str]:
    """Each problem with where it is: in the order of the file, then those with no line
    (a CI input's, the top level's) as they were found."""
    def line(problem: tuple[str, str]) -> int:
        found = _line_of(problem[0], lines, inputs)
        return sys.maxsize if found is None else found
    return [_locate(path, message, lines, inputs)
            for path, message in sorted(problems, key=line)]  # stable within a line


def _line_of(path: str, lines: Mapping[str, int], inputs: Inputs | None) -> int | None:
    """The line of the nearest enclosing key the file has a line for; None for a value
    a CI wrapper's input set."""
    if inputs and inputs.origin(path):
        return None
    probe = path
    while probe and probe not in lines:
        # the last step, a key or an index (build.platforms[2] of `platforms: a,b,c`)
        shorter = probe[:max(probe.rfind("."), probe.rfind("["), 0)] or probe
        if shorter == probe:  # the top level: no line for it (this looped forever)
            break
        probe = shorter
    return lines.get(probe)


def _locate(path: str, message: str, lines: Mapping[str, int],
            inputs: Inputs | None = None) -> str:
    origin = inputs.origin(path) if inputs else None
    if origin:  # set by a CI wrapper's input, not by a line of the file
        return f"{path} (from {origin}): {message}"
    line = _line_of(path, lines, None)
    where = f"line {line}: " if line else ""
    return f"{where}{path or '(top level)'}: {message}"


def _interpolate(value: Any, env: Mapping[str, str], path: str,
                 problems: list[tuple[str, str]]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string; `$$` is a literal `$`."""
    if isinstance(value, dict):  # keys too: `registries: {"${CI_REGISTRY}": ...}`
        return {_interpolate(k, env, path, problems): _interpolate(v, env, join(path, str(k)),
                                                                   problems)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        reference = _REFERENCE.fullmatch(match.group(1) or "")
        if reference is None:
            problems.append((path, f"'{match.group(0)}' is not a valid variable reference; "
                                   "write ${NAME} or ${NAME:-default} ($$ for a literal $)"))
            return ""
        name, default = reference.groups()
        current = env.get(name)
        if default is not None and not current:
            return default
        if current is None:
            problems.append((path, f"uses ${{{name}}}, which is not set; set it in the "
                                   f"environment or write ${{{name}:-default}}"))
            return ""
        return current

    return _VARIABLE.sub(substitute, value)


def _build(data: Mapping[str, Any], base: Path, source: str, env: Mapping[str, str],
           overrides: Overrides, refused: frozenset[str] = frozenset(),
           ) -> tuple[Settings | None, list[tuple[str, str]]]:
    """Settings from schema-valid data; `refused` names the values the schema took out."""
    problems: list[tuple[str, str]] = []
    images: list[str] = []
    notes: list[str] = []
    disabled = 0
    for index, image in enumerate(data.get("images") or ()):
        if not isinstance(image, str):
            continue  # refused by the schema
        entry = parse_image_entry(image)
        if isinstance(entry, str):
            problems.append((f"images[{index}]", entry))
            continue
        if not entry.enabled:
            notes.append(f"images[{index}]: '{entry.name}' is switched off (enable=false)")
            disabled += 1
            continue
        image = entry.name
        if image != image.lower():
            # As metadata-action does: `ghcr.io/${GITHUB_REPOSITORY}` often has capitals.
            if image_problem(image.lower()) is None:
                notes.append(f"images[{index}]: '{image}' is used as '{image.lower()}' "
                             "(registries only accept lower-case names)")
            image = image.lower()
        problem = image_problem(image)
        if problem:
            problems.append((f"images[{index}]", problem))
        elif image in images:
            problems.append((f"images[{index}]", f"'{image}' is listed twice"))
        else:
            images.append(image)

    if disabled and not images and not any(p.startswith("images") for p, _ in problems):
        problems.append(("images", "every image is switched off (enable=false): nothing to "
                                   "build for; enable one, or skip this step in the workflow"))
    rules: tuple[tagging.TagRule, ...] | None = None
    if data.get("tags"):
        try:
            rules = tagging.parse_rules(data["tags"])
        except tagging.RuleSyntaxError as exc:
            problems += [(f"tags[{where}]", message) for where, message in exc.problems]
    try:
        flavor = tagging.parse_flavor(data.get("flavor"))
    except tagging.RuleSyntaxError as exc:
        problems += [(_flavor_path(data.get("flavor"), where), message)
                     for where, message in exc.problems]
        flavor = tagging.parse_flavor(None)

    raw_build = data.get("build") or {}
    context = (base / _given(raw_build, "context", ".")).resolve()
    if overrides.building and not _exists(context, Path.is_dir):
        problems.append(("build.context", f"'{context}' is not a directory"))
    path_problems = _build_path_problems(raw_build, context, base) \
        if overrides.building and _exists(context, Path.is_dir) else []
    problems += path_problems
    build = Build(
        context=context,
        dockerfile=_given(raw_build, "dockerfile", "Dockerfile"),
        args={k: _arg_text(v) for k, v in (raw_build.get("args") or {}).items()},
        target=raw_build.get("target"),
        pull=bool(raw_build.get("pull")),
        no_cache=bool(raw_build.get("no_cache")),
        buildkit=parse_buildkit(raw_build, base, problems, checking_files=overrides.building),
    )
    if overrides.building and _exists(context, Path.is_dir) and not path_problems \
            and "build.context" not in refused \
            and not _exists(context / build.dockerfile, Path.is_file):
        key = "build.dockerfile" if "dockerfile" in raw_build else "build"
        missing = f"no Dockerfile at '{context / build.dockerfile}'"
        if overrides.planning:
            notes.append(f"{key}: {missing}: `plan` needs none, `run` will")
        else:
            problems.append((key, f"{missing}; create it or set build.dockerfile"))

    registries: dict[str, Credentials] = {}
    for host, entry in (data.get("registries") or {}).items():
        if not isinstance(entry.get("username"), str) or \
                not isinstance(entry.get("password"), str):
            continue  # refused by the schema
        if not entry["password"].strip():
            # Empty counts as unset (${CI_REGISTRY_USER:-} outside CI, a fork PR's secret):
            # the Docker config's credentials are used, as for a host without an entry.
            if entry["username"].strip() and not overrides.planning:  # plan pushes nothing
                notes.append(f"registries.{host}: the password is empty, so the Docker "
                             "config's credentials (if any) are used for this host")
            continue
        api_token = entry.get("api_token")
        registries[normalise_host(host)] = Credentials(
            username=entry["username"], password=Secret(entry["password"]),
            api_token=Secret(api_token) if isinstance(api_token, str) and api_token.strip()
            else None)
    problems += registry_key_problems(data.get("registries") or {}, images, notes)
    registries.update(_ci_registry_credentials(env, registries))

    built = (_webhook(hook, f"webhooks[{index}]", problems, notes)
             for index, hook in enumerate(data.get("webhooks") or ()) if isinstance(hook, dict))
    webhooks = tuple(hook for hook in built if hook is not None)
    push = bool(data.get("push", True))  # `push:` left empty has always meant false
    env_push = env.get("DOCKYARD_PUSH", "").strip() or None  # empty: a CI input not given
    if env_push is not None:
        if env_push.lower() not in ("true", "false", "1", "0"):
            problems.append(("DOCKYARD_PUSH", f"'{env_push}' is not true or false"))
        push = env_push.lower() in ("true", "1")
    if overrides.push is not None:
        push = overrides.push
    force = overrides.force if overrides.force is not None else False
    publishing = _publishing(data.get("publish") or {}, problems)
    retention = parse_retention(data["retention"], problems) \
        if isinstance(data.get("retention"), dict) else Retention()
    levels = _annotation_levels(data, env, problems)

    if problems:
        return None, problems
    return Settings(
        source=source,
        images=tuple(images),
        tag_rules=rules,
        flavor=flavor,
        labels=dict(data.get("labels") or {}),
        build=build,
        registries=registries,
        webhooks=webhooks,
        push=push,
        force=force,
        zero_config=source.startswith("defaults"),
        publishing=publishing,
        retention=retention,
        notes=tuple(notes),
        annotations=dict(data.get("annotations") or {}),
        annotation_levels=levels,
        apply_annotations=bool(data.get("annotations") or data.get("annotation_levels")
                               or env.get(LEVELS_VARIABLE, "").strip()),
    ), []


def _webhook(hook: Mapping[str, Any], path: str, problems: list[tuple[str, str]],
             notes: list[str]) -> Webhook | None:
    """One webhook entry, as far as the schema let it through; adds what the schema subset
    cannot check. None when it has no usable URL (a problem says why)."""
    events = tuple(e for e in hook.get("events") or payloads.EVENTS if isinstance(e, str))
    for index, event in enumerate(events):
        if event not in payloads.EVENTS:
            problems.append((f"{path}.events[{index}]", f"unknown event '{event}'"
                             f"{did_you_mean(event, list(payloads.EVENTS))}; one of "
                             + ", ".join(payloads.EVENTS)))
    fmt = hook.get("format") or "dockyard"
    if fmt not in payloads.FORMATS:
        problems.append((f"{path}.format", f"unknown format '{fmt}'"
                         f"{did_you_mean(fmt, list(payloads.FORMATS))}; one of "
                         + ", ".join(payloads.FORMATS)))
    timeout = float(_given(hook, "timeout", DEFAULT_WEBHOOK_TIMEOUT))
    if not 0 < timeout <= MAX_SECONDS:  # false for nan too
        problems.append((f"{path}.timeout", _SECONDS_PROBLEM))
    attempts = int(_given(hook, "max_attempts", DEFAULT_WEBHOOK_ATTEMPTS))
    if not 1 <= attempts <= 10:
        problems.append((f"{path}.max_attempts", "must be between 1 and 10"))
    headers: dict[str, Secret] = {}
    for name, text in (hook.get("headers") or {}).items():
        where = f"{path}.headers.{name}"
        if _EMPTY_CREDENTIAL.fullmatch(text or ""):  # "", or "Bearer " from an empty token
            notes.append(f"{where} is empty (an unset secret?), so it is not sent")
            continue
        value = Secret(text)  # registered for redaction before anything can fail
        for word in text.split()[1:]:  # "Bearer <token>": the token alone too
            secrets.register(word)
        if not _HEADER_NAME.fullmatch(name):
            problems.append((where, "is not a valid header name"))
        elif name.lower().startswith(_RESERVED_HEADERS):
            problems.append((where, "is set by Dockyard itself and cannot be overridden"))
        elif any(c in value.reveal() for c in "\r\n\0"):
            problems.append((where, "the value must be one line"))  # never show the value
        elif not _latin_1(value.reveal()):
            problems.append((where, "the value has a character no HTTP header can carry "
                                    "(beyond latin-1); percent-encode or base64 it"))
        else:
            headers[name] = value
    url = hook.get("url")
    if not isinstance(url, str):
        return None  # missing or refused by the schema
    secrets.register_url(url)  # Slack-style URLs are credentials themselves
    try:
        parts = urlsplit(url)
    except ValueError:  # neither it nor the error is quoted: both may hold a credential
        problems.append((f"{path}.url", "is not a valid URL: its host cannot be read (an "
                                        "IPv6 address is written in [brackets])"))
        return None
    try:
        port = parts.port
    except ValueError:  # not a number, or past 65535
        port = 0
    if port == 0:
        # `user:pa/ss@host`: the netloc ends at the '/', and `pa` is taken for a port
        cut = "@" not in parts.netloc and "@" in url.partition("://")[2]
        problems.append((f"{path}.url", "is not a valid URL: its password holds a '/', '?' "
                                        "or '#' that is not percent-encoded (write %2F, %3F, "
                                        "%23)" if cut else "is not a valid URL: its port is "
                                        "not a number from 1 to 65535"))
        return None
    secret = hook.get("secret")
    empty = secret is not None and not secret.strip()  # a fork PR's secret, say
    return Webhook(url=url, secret=None if empty or secret is None else Secret(secret),
                   required=bool(hook.get("required")), timeout=timeout, events=events,
                   format=fmt, headers=headers, max_attempts=attempts, secret_empty=empty)


def _latin_1(text: str) -> bool:
    """Whether HTTP can carry `text` in a header (as bytes, one a character)."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _checkout_of(base: Path) -> Path:
    """The checkout a config belongs to: the nearest directory holding `.git`, from the
    config's own directory up; that directory itself outside git."""
    base = base.resolve()
    return next((d for d in (base, *base.parents) if (d / ".git").exists()), base)


def _build_path_problems(raw_build: Mapping[str, Any], context: Path,
                         base: Path) -> list[tuple[str, str]]:
    """Context and Dockerfile must resolve (symlinks followed) inside the checkout, unless
    `build.allow_outside_checkout` says otherwise; the Dockerfile must be a regular file
    off the kernel's pseudo-filesystems either way. The messages name paths, never what
    is in them."""
    checkout = _checkout_of(base)
    allowed = raw_build.get("allow_outside_checkout") is True
    escape = ("resolves outside the checkout ({checkout}); keep the build inside the "
              "repository, or set build.allow_outside_checkout: true")
    if not allowed and not context.is_relative_to(checkout):
        return [("build.context", f"'{raw_build.get('context')}' "
                 + escape.format(checkout=checkout))]
    dockerfile = _given(raw_build, "dockerfile", "Dockerfile")
    path = (context / dockerfile).resolve()
    if not allowed and not path.is_relative_to(checkout):
        return [("build.dockerfile", f"'{dockerfile}' " + escape.format(checkout=checkout))]
    if path.is_relative_to(checkout):
        return []
    if path.parts[1:2] in (("proc",), ("sys",), ("dev",)) or (
            _exists(path, Path.exists) and not _exists(path, Path.is_file)):
        return [("build.dockerfile", f"'{dockerfile}' is not a regular file")]
    return []


def _exists(path: Path, kind: Callable[[Path], bool]) -> bool:
    """Path.is_dir or is_file, False for a path the system refuses (a name too long)."""
    try:
        return kind(path)
    except OSError:
        return False


def _given(mapping: Mapping[str, Any], key: str, default: Any) -> Any:
    value = mapping.get(key)
    return default if value is None else value


def _publishing(raw: Mapping[str, Any], problems: list[tuple[str, str]]) -> Publishing:
    defaults = Publishing()
    publishing = Publishing(
        retries=int(_given(raw, "retries", defaults.retries)),
        backoff_seconds=float(_given(raw, "backoff_seconds", defaults.backoff_seconds)),
        max_backoff_seconds=float(_given(raw, "max_backoff_seconds",
                                         defaults.max_backoff_seconds)),
        timeout_seconds=float(_given(raw, "timeout_seconds", defaults.timeout_seconds)),
        upload=str(_given(raw, "upload", defaults.upload)),
        insecure=tuple(normalise_host(str(host)) for host in raw.get("insecure") or ()),
    )
    if publishing.upload not in UPLOADS:
        problems.append(("publish.upload", f"must be {' or '.join(UPLOADS)}, not "
                         f"'{publishing.upload}'"))
    if not 0 <= publishing.retries <= 20:
        problems.append(("publish.retries", "must be between 0 and 20"))
    for key in ("backoff_seconds", "max_backoff_seconds", "timeout_seconds"):
        if not 0 < getattr(publishing, key) <= MAX_SECONDS:  # false for nan too
            problems.append((f"publish.{key}", _SECONDS_PROBLEM))
    return publishing


def _annotation_levels(data: Mapping[str, Any], env: Mapping[str, str],
                       problems: list[tuple[str, str]]) -> tuple[str, ...]:
    """`annotation_levels:`, or metadata-action's variable over it."""
    text = env.get(LEVELS_VARIABLE, "").strip()
    where = LEVELS_VARIABLE if text else "annotation_levels"
    given = parse_levels(text) if text else tuple(
        str(level).strip() for level in data.get("annotation_levels") or () if str(level).strip())
    problems += [(where, problem) for problem in level_problems(given)]
    return given or DEFAULT_LEVELS


def _ci_registry_credentials(env: Mapping[str, str],
                             configured: Mapping[str, Credentials]) -> dict[str, Credentials]:
    """GitLab CI's job credentials for its own registry, unless the config names that host."""
    host = normalise_host(env.get("CI_REGISTRY", ""))
    user, password = env.get("CI_REGISTRY_USER"), env.get("CI_REGISTRY_PASSWORD")
    if not host or not user or not password or host in configured:
        return {}
    return {host: Credentials(username=user, password=Secret(password))}


def _flavor_path(flavor: object, where: int | str) -> str:
    if isinstance(flavor, dict):
        return f"flavor.{where}"
    return f"flavor[{where}]"


def _arg_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
