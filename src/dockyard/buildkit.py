"""The BuildKit keys of `build:` (secrets, ssh, platforms, cache, attestations, builder).

Values keep build-push-action's spelling (`type=registry,ref=...`, `mode=max`,
`generator=IMAGE`), so that a workflow's inputs move over unchanged; they are checked
here once, each problem naming its key, and frozen. A secret's value is wrapped in
`Secret` (registered for redaction) before anything else looks at it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import secrets
from dockyard.schema import did_you_mean
from dockyard.secrets import Secret

BACKENDS = ("auto", "docker-py", "buildx")
CACHE_TYPES = ("registry", "inline", "local", "gha", "s3", "azblob")
# What each cache type cannot do without (buildx's own rules, said before a build starts)
_CACHE_NEEDS = {("from", "registry"): "ref", ("to", "registry"): "ref",
                ("from", "local"): "src", ("to", "local"): "dest"}
# A cache's attributes that are credentials, by cache type, and the variable of buildx's
# environment it reads each from when the entry leaves it out: they go there, never on its
# command line (`ps` shows that to everyone on the machine).
CACHE_CREDENTIALS = {
    "gha": {"token": "ACTIONS_RUNTIME_TOKEN"},
    "s3": {"access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY",
           "session_token": "AWS_SESSION_TOKEN"},
}
_CACHE_SECRETS = ("token", "secret_access_key", "session_token")  # masked (of any type)
_ID = re.compile(r"[A-Za-z0-9_.-]+")
_PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9.]+)?")
_PROVENANCE_MODES = ("min", "max")

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class BuildKit:
    """What a build asks of BuildKit; empty everywhere: nothing (docker-py suffices)."""

    backend: str = "auto"
    secrets: Mapping[str, Secret] = field(default_factory=dict)  # id -> value
    secret_files: Mapping[str, Path] = field(default_factory=dict)  # id -> file
    ssh: tuple[str, ...] = ()  # `default`, `id`, `id=path[,path]`
    platforms: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    provenance: str | None = None  # buildx's --provenance value; None: buildx's default
    sbom: str | None = None  # buildx's --sbom value (`true`, `generator=IMAGE`)
    builder: str | None = None

    @property
    def sbom_generator(self) -> str | None:
        """The image `build.sbom: generator=IMAGE` names, if any."""
        return csv_pairs(self.sbom or "").get("generator")


def csv_pairs(text: str) -> dict[str, str]:
    """`a=b,c=d` as a mapping (a part without `=` maps to the empty string)."""
    pairs = {}
    for part in text.split(","):
        key, _, value = part.strip().partition("=")
        if key:
            pairs[key.strip()] = value.strip()
    return pairs


def parse_buildkit(raw: Mapping[str, Any], base: Path, problems: Problems, *,
          checking_files: bool = True) -> BuildKit:
    """The BuildKit keys of a schema-valid `build:` mapping; problems are added to
    `problems`. Paths in `build.secret_files` are relative to the config's directory."""
    secrets = {str(key): Secret(str(value)) for key, value in
               (raw.get("secrets") or {}).items()}  # wrapped first: registered for redaction
    for key in secrets:
        _check_id(f"build.secrets.{key}", key, problems)
    files: dict[str, Path] = {}
    for key, value in (raw.get("secret_files") or {}).items():
        where = f"build.secret_files.{key}"
        _check_id(where, str(key), problems)
        path = (base / str(value)).resolve()
        if checking_files and not path.is_file():
            problems.append((where, f"'{value}' is not a file (paths are relative to the "
                                    "config file's directory)"))
        if key in secrets:
            problems.append((where, f"the id '{key}' is in build.secrets too; give each "
                                    "secret one id"))
        files[str(key)] = path
    credentials: dict[str, tuple[str, str]] = {}  # variable -> (where, value), for both
    backend = str(raw.get("backend") or "auto")
    if backend not in BACKENDS:
        problems.append(("build.backend", f"unknown backend '{backend}'"
                         f"{did_you_mean(backend, list(BACKENDS))}; one of "
                         + ", ".join(BACKENDS)))
    return BuildKit(
        backend=backend,
        secrets=secrets,
        secret_files=files,
        ssh=tuple(_ssh(_items(raw.get("ssh")), base, problems, checking_files)),
        platforms=tuple(_platforms(_items(raw.get("platforms"), split=True), problems)),
        cache_from=tuple(_cache("from", _items(raw.get("cache_from")), problems, credentials)),
        cache_to=tuple(_cache("to", _items(raw.get("cache_to")), problems, credentials)),
        provenance=_attestation("provenance", raw.get("provenance"), problems),
        sbom=_attestation("sbom", raw.get("sbom"), problems),
        builder=_builder(raw.get("builder"), problems),
    )


def _items(value: object, *, split: bool = False) -> list[str]:
    """A list key given as a list, or as one string of lines (a CI input); `split`: or of
    commas too (`linux/amd64,linux/arm64`, as buildx takes it)."""
    if value is None:
        return []
    texts = [str(v) for v in value if v is not None] if isinstance(value, list) \
        else str(value).splitlines()
    if split:
        texts = [part for text in texts for part in text.split(",")]
    return [text.strip() for text in texts if text.strip() and not text.strip().startswith("#")]


def _check_id(where: str, key: str, problems: Problems) -> None:
    if not _ID.fullmatch(key):
        problems.append((where, "a secret id takes letters, digits, '_', '.' and '-' only "
                                "(it is what `RUN --mount=type=secret,id=...` names)"))


def _ssh(items: Sequence[str], base: Path, problems: Problems,
         checking_files: bool) -> list[str]:
    """`default`, `ID`, or `ID=PATH[,PATH]`: each PATH (an agent socket or a key) relative
    to the config's directory, as secret_files are, and handed to buildx absolute (it would
    read it from wherever Dockyard was started)."""
    found: list[str] = []
    for index, item in enumerate(items):
        name, sep, paths = item.partition("=")
        if not _ID.fullmatch(name):
            problems.append((f"build.ssh[{index}]", f"'{item}' is not `default`, `ID` or "
                                                    "`ID=PATH` (as `docker buildx --ssh`)"))
            found.append(item)
            continue
        if not sep:
            found.append(item)
            continue
        resolved = []
        for path in (part.strip() for part in paths.split(",")):
            full = base / path  # an absolute path stays itself
            if checking_files and not full.exists():
                problems.append((f"build.ssh[{index}]", f"'{path}' does not exist (an SSH "
                                 "agent socket or a private key; paths are relative to the "
                                 "config file's directory)"))
            resolved.append(str(full))
        found.append(f"{name}={','.join(resolved)}")
    return found


def _platforms(items: Sequence[str], problems: Problems) -> list[str]:
    found: list[str] = []
    for index, item in enumerate(items):
        if not _PLATFORM.fullmatch(item):
            problems.append((f"build.platforms[{index}]", f"'{item}' is not a platform such "
                                                          "as linux/amd64 or linux/arm64/v8"))
        elif item in found:
            problems.append((f"build.platforms[{index}]", f"'{item}' is listed twice"))
        else:
            found.append(item)
    return found


def _cache(direction: str, items: Sequence[str], problems: Problems,
           credentials: dict[str, tuple[str, str]]) -> list[str]:
    """build-push-action's cache strings: `type=...,key=value`, or a bare reference
    (a registry cache, as buildx reads it). Credentials in them are registered for
    masking; `credentials` collects them by buildx variable, across cache_from and
    cache_to, for one value each."""
    for index, item in enumerate(items):
        where = f"build.cache_{direction}[{index}]"
        if "=" not in item:
            continue  # `ghcr.io/acme/app:cache`: type=registry,ref=...
        pairs = csv_pairs(item)
        for key in _CACHE_SECRETS:
            if pairs.get(key):
                secrets.register(pairs[key])
        kind = pairs.get("type")
        for key, variable in CACHE_CREDENTIALS.get(kind or "", {}).items():
            value = pairs.get(key)
            if not value:
                continue
            first, before = credentials.setdefault(variable, (where, value))
            if before != value:  # neither value is shown
                problems.append((where, f"its {key} differs from {first}'s; one build takes "
                                        f"one {kind} {key} (buildx reads it from {variable})"))
        if kind is None:
            problems.append((where, "names no type; write type=registry,ref=IMAGE (or "
                                    f"{', '.join(CACHE_TYPES[1:])})"))
        elif kind not in CACHE_TYPES:
            problems.append((where, f"unknown cache type '{kind}'"
                                    f"{did_you_mean(kind, list(CACHE_TYPES))}; one of "
                                    + ", ".join(CACHE_TYPES)))
        elif (needed := _CACHE_NEEDS.get((direction, kind))) and not pairs.get(needed):
            problems.append((where, f"a {kind} cache needs {needed}= (as in "
                                    f"type={kind},{needed}=...)"))
        elif direction == "from" and kind == "inline":
            problems.append((where, "type=inline is for cache_to; read an inline cache "
                                    "with type=registry,ref=IMAGE"))
    return list(items)


def _attestation(key: str, value: object, problems: Problems) -> str | None:
    """`provenance` / `sbom`: true, false, or buildx's own value (`mode=max`,
    `generator=IMAGE`)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    pairs = csv_pairs(text)
    if key == "provenance" and pairs.get("mode", "min") not in _PROVENANCE_MODES:
        problems.append((f"build.{key}", f"mode must be min or max, not '{pairs['mode']}'"))
    elif key == "sbom" and "generator" in pairs and not pairs["generator"]:
        problems.append((f"build.{key}", "generator= names no image; write "
                                         "generator=IMAGE, or true"))
    elif not pairs or any(not v for v in pairs.values()):
        problems.append((f"build.{key}", f"'{text}' is not true, false or KEY=VALUE pairs "
                                         "(as `docker buildx build --" + key + "`)"))
    return text


def _builder(value: object, problems: Problems) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text or not _ID.fullmatch(text):
        problems.append(("build.builder", f"'{text}' is not a buildx builder name (see "
                                          "`docker buildx ls`)"))
        return None
    return text
