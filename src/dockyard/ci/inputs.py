"""CI wrapper inputs: `DOCKYARD_*` variables that override keys of dockyard.yml.

A GitHub Action input, a GitLab job variable or a Jenkins step argument reaches Dockyard
as one environment variable; the CLI reads them with `read_inputs` and settings merges
them over the file (precedence: flags > these variables > file > defaults). Their forms
are those of docker/metadata-action and build-push-action, one item a line:

| variable                | config key        | form                                        |
| ----------------------- | ----------------- | ------------------------------------------- |
| DOCKYARD_IMAGES         | images            | one image name a line                       |
| DOCKYARD_TAGS           | tags              | one tag rule a line                         |
| DOCKYARD_FLAVOR         | flavor            | one flavor line a line (`latest=auto`)      |
| DOCKYARD_LABELS         | labels            | one `key=value` a line, merged by key       |
| DOCKYARD_ANNOTATIONS    | annotations       | one `key=value` a line, merged by key       |
| DOCKYARD_CONTEXT        | build.context     | a path, relative to the working directory   |
| DOCKYARD_FILE           | build.dockerfile  | a path, relative to the working directory   |
| DOCKYARD_BUILD_ARGS     | build.args        | one `NAME=value` a line, merged by name     |
| DOCKYARD_TARGET         | build.target      | a stage name                                |
| DOCKYARD_REGISTRIES     | registries        | YAML, as in dockyard.yml, merged by host    |
| DOCKYARD_WEBHOOKS       | webhooks          | YAML, a list as in dockyard.yml             |
| DOCKYARD_DEFAULT_IMAGES | images            | used only when nothing else names images    |
| DOCKYARD_SECRETS        | build.secrets     | one `id=value` a line, merged by id         |
| DOCKYARD_SECRET_FILES   | build.secret_files| one `id=path` a line, merged by id          |
| DOCKYARD_SSH            | build.ssh         | one `default` or `id=path` a line           |
| DOCKYARD_PLATFORMS      | build.platforms   | platforms, one a line or comma-separated    |
| DOCKYARD_CACHE_FROM     | build.cache_from  | one cache source a line (type=registry,...) |
| DOCKYARD_CACHE_TO       | build.cache_to    | one cache export a line                     |
| DOCKYARD_PROVENANCE     | build.provenance  | true, false or mode=min/max                 |
| DOCKYARD_SBOM           | build.sbom        | true, false or generator=IMAGE              |
| DOCKYARD_BUILDER        | build.builder     | a buildx builder name                       |
| DOCKYARD_BACKEND        | build.backend     | auto, docker-py or buildx                   |

An empty variable counts as unset (a CI passes every input, given or not). Blank lines
and lines starting with `#` are ignored. Values use the file's `${VAR}` syntax, so a
wrapper can name a secret's variable instead of carrying its value. `DOCKYARD_PUSH` and
`DOCKYARD_CONFIG` are read by settings and the CLI as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.errors import ConfigError

_LINES = {"DOCKYARD_IMAGES": "images", "DOCKYARD_TAGS": "tags", "DOCKYARD_FLAVOR": "flavor"}
_PAIRS = {"DOCKYARD_LABELS": ("labels",), "DOCKYARD_BUILD_ARGS": ("build", "args"),
          "DOCKYARD_SECRETS": ("build", "secrets"),
          "DOCKYARD_SECRET_FILES": ("build", "secret_files"),
          "DOCKYARD_ANNOTATIONS": ("annotations",)}
# build-push-action's inputs of BuildKit's keys: lists one item a line, the rest strings
_BUILD_LISTS = {"DOCKYARD_SSH": "ssh", "DOCKYARD_PLATFORMS": "platforms",
                "DOCKYARD_CACHE_FROM": "cache_from", "DOCKYARD_CACHE_TO": "cache_to"}
_BUILD_TEXTS = {"DOCKYARD_PROVENANCE": "provenance", "DOCKYARD_SBOM": "sbom",
                "DOCKYARD_BUILDER": "builder", "DOCKYARD_BACKEND": "backend"}
_MERGED_BUILD = ("args", "secrets", "secret_files")  # build.* mappings merged by key
# As metadata-action, a `labels` or `annotations` line without `=` is no entry: ignored.
_LENIENT = ("DOCKYARD_LABELS", "DOCKYARD_ANNOTATIONS")
_PATHS = {"DOCKYARD_CONTEXT": "context", "DOCKYARD_FILE": "dockerfile"}
_YAML = {"DOCKYARD_REGISTRIES": "registries", "DOCKYARD_WEBHOOKS": "webhooks"}
DEFAULT_IMAGES = "DOCKYARD_DEFAULT_IMAGES"
# Keys whose values are mappings merged key by key; every other key is replaced whole.
_MERGED = ("labels", "registries", "annotations")


@dataclass(frozen=True)
class Inputs:
    """A partial config document from the environment, and where each key came from."""

    values: Mapping[str, Any] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)  # config path -> variable
    default_images: tuple[str, ...] = ()

    @property
    def names_images(self) -> bool:
        return bool(self.values.get("images") or self.default_images)

    def over(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """`data` (a parsed dockyard.yml) with these inputs merged over it."""
        merged = dict(data)
        for key, value in self.values.items():
            current = merged.get(key)
            if key in _MERGED and isinstance(current, dict):
                merged[key] = {**current, **value}
            elif key == "build" and isinstance(current, dict):
                build = dict(current)
                for name, item in value.items():
                    old = build.get(name)
                    build[name] = {**old, **item} if name in _MERGED_BUILD and isinstance(
                        old, dict) else item
                merged[key] = build
            else:
                merged[key] = value
        if not merged.get("images") and self.default_images:
            merged["images"] = list(self.default_images)
        return merged

    def origin(self, path: str) -> str | None:
        """The variable a config path (`tags[0]`, `build.context`) was read from, if any."""
        probe = path
        while probe:
            if probe in self.origins:
                return self.origins[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return None


def read_inputs(env: Mapping[str, str], workdir: Path) -> Inputs:
    """The DOCKYARD_* inputs set in `env`; paths are made absolute against `workdir`."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    problems: list[str] = []
    for name, key in _LINES.items():
        if (text := _given(env, name)) is not None:
            values[key] = _lines(text)
            origins[key] = name
    for name, (*parents, key) in _PAIRS.items():
        if (text := _given(env, name)) is not None:
            pairs, bad = _pairs(text)
            if name not in _LENIENT:
                problems += [f"{name}: line {n} is not NAME=value" for n in bad]
            _nest(values, parents)[key] = pairs
            _record(origins, ".".join((*parents, key)), pairs, name)
    for name, key in _PATHS.items():
        if (text := _given(env, name)) is not None:
            _nest(values, ["build"])[key] = str(workdir / text.strip())
            origins[f"build.{key}"] = name
    for name, key in _BUILD_LISTS.items():
        if (text := _given(env, name)) is not None:
            _nest(values, ["build"])[key] = _lines(text)
            origins[f"build.{key}"] = name
    for name, key in _BUILD_TEXTS.items():
        if (text := _given(env, name)) is not None:
            _nest(values, ["build"])[key] = text.strip()
            origins[f"build.{key}"] = name
    if (text := _given(env, "DOCKYARD_TARGET")) is not None:
        _nest(values, ["build"])["target"] = text.strip()
        origins["build.target"] = "DOCKYARD_TARGET"
    for name, key in _YAML.items():
        if (text := _given(env, name)) is not None:
            parsed, problem = _yaml(text)
            if problem:
                problems.append(f"{name}: {problem}")
                continue
            if key == "registries" and isinstance(parsed, dict):
                # An empty host is a CI variable that is not set here: nothing to log in to.
                parsed = {host: entry for host, entry in parsed.items() if str(host).strip()}
            values[key] = parsed
            _record(origins, key, parsed, name)
    if problems:
        raise ConfigError("inputs", problems)
    default_images = tuple(_lines(_given(env, DEFAULT_IMAGES) or ""))
    if default_images and "images" not in values:
        origins["images"] = DEFAULT_IMAGES
    return Inputs(values=values, origins=origins, default_images=default_images)


def _record(origins: dict[str, str], path: str, value: object, name: str) -> None:
    """Remember where `path` came from; for a mapping merged by key, each key's origin."""
    if path.rsplit(".", 1)[-1] in (*_MERGED, *_MERGED_BUILD) and isinstance(value, dict):
        origins.update({f"{path}.{key}": name for key in value})
    else:
        origins[path] = name


def _given(env: Mapping[str, str], name: str) -> str | None:
    text = env.get(name)
    return text if text is not None and text.strip() else None


def _lines(text: str) -> list[str]:
    stripped = (line.strip() for line in text.splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def _pairs(text: str) -> tuple[dict[str, str], list[int]]:
    """NAME=value lines, and the numbers of the lines that are not (never quoted: a
    malformed line may hold a value that should not be shown)."""
    pairs: dict[str, str] = {}
    bad: list[int] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            bad.append(number)
        else:
            pairs[name.strip()] = value
    return pairs, bad


def _nest(values: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    node = values
    for key in keys:
        node = node.setdefault(key, {})
    return node


def _yaml(text: str) -> tuple[Any, str | None]:
    """Parse YAML; the problem names a line but never quotes it (it may hold a secret)."""
    import yaml  # only inputs that are YAML documents need it, and it takes ~20 ms

    try:
        return yaml.safe_load(text), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        return None, f"{where}not valid YAML: {problem}"
