"""The JSON Schema of dockyard.yml: one source of truth for the validator and for editors.

`settings` validates against `CONFIG_SCHEMA` with the small draft-07 subset implemented
in `validate`; `dockyard schema` can print it for yaml-language-server. Fields marked
`writeOnly` hold secrets: they are wrapped in `Secret` the moment they are read.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from dockyard.payloads import EVENTS, FORMATS
from dockyard.retention import RETENTION_SCHEMA

UPLOADS = ("once", "each")  # publish.upload

_HTTP_URL = "^https?://[^/]+"  # a webhook's url
_STRING = {"type": "string"}
_SECRET = {"type": "string", "writeOnly": True}
_STRING_LIST = {"type": "array", "items": _STRING}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://dockyard.dev/schema/dockyard.schema.json",
    "title": "dockyard.yml",
    "description": "Dockyard: build, tag and push container images.",
    "type": "object",
    "additionalProperties": False,
    "required": ["images"],
    "properties": {
        "images": {
            "description": "Image names without a tag; one build is pushed to each.",
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "minLength": 1},
        },
        "tags": {
            "description": "Tag rules in docker/metadata-action syntax, one rule a line.",
            **_STRING_LIST,
        },
        "flavor": {
            "description": "metadata-action flavor lines (latest=auto, prefix=, suffix=) "
            "or a mapping.",
            "type": ["array", "object"],
            "items": _STRING,
            "additionalProperties": {"type": ["string", "boolean"]},
        },
        "labels": {
            "description": "Extra labels, merged over the generated OCI labels.",
            "type": "object",
            "additionalProperties": _STRING,
        },
        "annotations": {
            "description": "Extra OCI annotations, merged over the generated ones (the OCI "
            "labels); values may use metadata-action's global expressions.",
            "type": "object",
            "additionalProperties": _STRING,
        },
        "annotation_levels": {
            "description": "Where the annotations go: manifest (default), index, "
            "manifest-descriptor, index-descriptor (DOCKER_METADATA_ANNOTATIONS_LEVELS).",
            **_STRING_LIST,
        },
        "build": {
            "description": "How to build the image (docker build's options).",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "context": {"description": "Build context, relative to the config file.",
                            **_STRING},
                "dockerfile": {"description": "Dockerfile, relative to the context.", **_STRING},
                "args": {
                    "description": "Build arguments.",
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                },
                "target": {"description": "Multi-stage target to build.", **_STRING},
                "pull": {"description": "Always try to pull newer base images.", "type": "boolean"},
                "no_cache": {"description": "Build without the layer cache.", "type": "boolean"},
                # BuildKit's keys, in build-push-action's forms (checked in buildkit.py)
                "backend": {"description": "auto (default): buildx when the build needs "
                            "BuildKit, else docker-py; or docker-py, or buildx.",
                            "type": "string", "enum": ["auto", "docker-py", "buildx"]},
                "secrets": {"description": "Build secrets, id -> value (usually ${VAR}), "
                            "for RUN --mount=type=secret,id=...; never in the image.",
                            "type": "object", "additionalProperties": _SECRET},
                "secret_files": {"description": "Build secrets read from files, id -> path "
                                 "(relative to this file).",
                                 "type": "object", "additionalProperties": _STRING},
                "ssh": {"description": "SSH agent sockets or keys for RUN --mount=type=ssh: "
                        "`default` or `ID=PATH` (relative to this file).",
                        "type": ["array", "string"],
                        "items": _STRING},
                "platforms": {"description": "Target platforms (linux/amd64, linux/arm64): "
                              "one image index.", "type": ["array", "string"],
                              "items": _STRING},
                "cache_from": {"description": "Cache sources, as build-push-action's "
                               "cache-from (type=registry,ref=..., type=local,src=..., "
                               "type=gha).", "type": ["array", "string"], "items": _STRING},
                "cache_to": {"description": "Cache exports, as build-push-action's cache-to "
                             "(type=registry,ref=...,mode=max, type=inline, type=gha).",
                             "type": ["array", "string"], "items": _STRING},
                "provenance": {"description": "Provenance attestation: true, false, or "
                               "mode=min|max.", "type": ["boolean", "string"]},
                "sbom": {"description": "SBOM attestation: true, false, or generator=IMAGE.",
                         "type": ["boolean", "string"]},
                "builder": {"description": "The buildx builder to use (docker buildx ls): a "
                            "remote BuildKit or a Kubernetes builder.", **_STRING},
                "allow_outside_checkout": {
                    "description": "Let the context and Dockerfile resolve (symlinks "
                    "followed) outside the repository's checkout (default false: a path "
                    "that escapes it is an error).",
                    "type": "boolean"},
            },
        },
        "registries": {
            "description": "Credentials per registry host; a host without an entry uses the "
            "Docker config (~/.docker/config.json).",
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["username", "password"],
                "properties": {
                    "username": {"description": "User name, token name or `_json_key` "
                                                "(GCR), `AWS` (ECR).", **_STRING},
                    "password": {"description": "Password or access token.", **_SECRET},
                    "api_token": {"description": "For `dockyard prune` on Quay (an OAuth "
                                  "token with repo:write) and GitLab (a token with the api "
                                  "scope): the token of the registry's own API, which "
                                  "deletes tags (see docs/retention.md).", **_SECRET},
                },
            },
        },
        "webhooks": {
            "description": "Where to POST the run's outcome (see docs/webhooks.md).",
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["url"],
                "properties": {
                    "url": {"description": "http(s) URL of the receiver.", "type": "string",
                            "pattern": _HTTP_URL},
                    "secret": {"description": "Signs the body (X-Hub-Signature-256).", **_SECRET},
                    "required": {
                        "description": "A failed delivery fails the run.",
                        "type": "boolean",
                    },
                    "timeout": {"description": "Seconds per attempt (default 10).",
                                "type": "number", "exclusiveMinimum": 0},
                    # enum, minimum and the header names are checked in settings, with
                    # a "did you mean"; they are declared here for editors.
                    "events": {
                        "description": "Events to send (default: all four; each run sends "
                        "one, its final outcome).",
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "enum": list(EVENTS)},
                    },
                    "format": {
                        "description": "Payload shape (default: dockyard, the release record).",
                        "type": "string",
                        "enum": list(FORMATS),
                    },
                    "headers": {
                        "description": "Extra request headers, e.g. a token; values are "
                        "secrets. Content-Type and the X-Dockyard-*/signature headers are "
                        "Dockyard's own.",
                        "type": "object",
                        "additionalProperties": _SECRET,
                    },
                    "max_attempts": {
                        "description": "Attempts per delivery, retries included (default 3).",
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 10,
                    },
                },
            },
        },
        "push": {"description": "Push to the registries (false: build and tag only).",
                 "type": "boolean"},
        "publish": {
            "description": "How the image reaches the registries, and how they are retried: "
            "transient failures (connection errors, 5xx, 429) only, with capped exponential "
            "backoff and jitter.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "retries": {"description": "Attempts after the first (default 4).",
                            "type": "integer"},
                "backoff_seconds": {"description": "First delay, doubled per attempt "
                                    "(default 1).", "type": "number"},
                "max_backoff_seconds": {"description": "Longest delay, Retry-After included "
                                        "(default 30).", "type": "number"},
                "timeout_seconds": {"description": "Per registry request (default 60).",
                                    "type": "number"},
                "upload": {"description": "How the image gets into the registries. `once` "
                           "(default): the engine pushes it to the first registry that needs "
                           "it, and the others get a copy from there, each blob read once "
                           "and streamed to all of them at the same time (one compression "
                           "instead of one per registry; the same digest everywhere). "
                           "`each`: the engine pushes to every registry, in parallel (faster when "
                           "each registry has bandwidth of its own and the runner has spare "
                           "cores).",
                           "type": "string", "enum": list(UPLOADS)},
                "insecure": {"description": "Registry hosts (`HOST[:PORT]`) to reach as the "
                             "engine reaches its `insecure-registries`: HTTPS without checking "
                             "the certificate, or plain HTTP when that is what the registry "
                             "speaks. List them in the engine's `/etc/docker/daemon.json` "
                             "too. Prefer TLS with the CA in certs.d (docs/publishing.md).",
                             **_STRING_LIST},
            },
        },
        "retention": RETENTION_SCHEMA,
    },
}

_FLOAT_MAX = sys.float_info.max


def _is_number(value: object) -> bool:
    """A JSON number: finite (YAML's .nan and .inf are not), and within a float's range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) if isinstance(value, float) else abs(value) <= _FLOAT_MAX


_JSON_TYPES: dict[str, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}
_TYPE_WORDS = {"array": "a list", "object": "a mapping", "boolean": "true or false",
               "string": "a string", "number": "a number", "integer": "a whole number",
               "null": "empty"}


def _unmatched(value: str, pattern: str) -> str:
    """What a value lacks that its pattern asks for, in words (a regular expression is not
    a message). A URL is not quoted: a webhook URL may be a credential (Slack's are)."""
    if pattern != _HTTP_URL:
        return f"'{value}' does not match {pattern}"
    scheme, sep, _ = value.partition("://")
    if not sep:
        found = "it has no scheme"
    elif scheme.lower() in ("http", "https") and scheme not in ("http", "https"):
        found = f"write its scheme in lower case ({scheme.lower()}://)"
    elif scheme not in ("http", "https"):
        found = (f"its scheme is '{scheme}'" if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme)
                 else "its scheme is not http or https")
    else:
        found = "it names no host"
    return f"must be an http:// or https:// URL, such as https://hooks.example.com/deploy; {found}"


def type_name(value: object) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} (YAML's .nan or .inf)"
    if isinstance(value, int) and not isinstance(value, bool) and not _is_number(value):
        return "a number too large for any use"
    for name in ("boolean", "integer", "number", "string", "array", "object", "null"):
        if _JSON_TYPES[name](value):
            return _TYPE_WORDS[name]
    return type(value).__name__


def did_you_mean(word: str, choices: Mapping[str, object] | list[str]) -> str:
    import difflib  # for mistakes only

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def validate(value: object, schema: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
    """Check `value` against the schema subset used here; return (path, problem) pairs."""
    return conform(value, schema, path)[1]


def conform(value: object, schema: Mapping[str, Any],
            path: str) -> tuple[Any, list[tuple[str, str]]]:
    """The problems of `value`, and `value` without the parts that have one.

    A refused mapping entry is left out (as if absent) and a refused list item becomes
    None (so that the other items keep their indexes): the checks that follow the schema
    see only values of the right shape, and still report their own problems.
    """
    problems: list[tuple[str, str]] = []
    return _conform(value, schema, path, problems), problems


def _conform(value: object, schema: Mapping[str, Any], path: str,
             problems: list[tuple[str, str]]) -> Any:
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_JSON_TYPES[t](value) for t in allowed):
            expected = " or ".join(_TYPE_WORDS[t] for t in allowed)
            problems.append((path, f"must be {expected}, not {type_name(value)}"))
            return None
    found = len(problems)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append((path, "must not be empty"))
        if "\0" in value:  # no path, name, header or label can carry one
            problems.append((path, "must not contain a NUL character (\\0)"))
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, value):
            problems.append((path, _unmatched(value, pattern)))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append((path, f"needs at least {schema['minItems']} item(s)"))
        item_schema = schema.get("items")
        if item_schema is not None:
            value = [_conform(item, item_schema, f"{path}[{index}]", problems)
                     for index, item in enumerate(value)]
    if isinstance(value, dict):
        value = _conform_mapping(value, schema, path, problems)
    if len(problems) > found and not isinstance(value, list | dict):
        return None
    return value


def _conform_mapping(value: dict[Any, Any], schema: Mapping[str, Any], path: str,
                     problems: list[tuple[str, str]]) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key in schema.get("required", ()):
        if key not in value or value[key] is None:
            problems.append((join(path, key), "is required"))
    kept: dict[str, Any] = {}
    for key, item in value.items():
        child = join(path, str(key))
        if not isinstance(key, str):  # YAML reads `1:`, `true:` and `~:` as such
            problems.append((child, f"the key {key!r} is {type_name(key)}, but keys are "
                                    f"strings: quote it ('{key}':)"))
            continue
        if "\0" in key:  # as in a value: no label, header or build arg name carries one
            problems.append((child.replace("\0", "\\0"),
                             "the key must not contain a NUL character (\\0)"))
            continue
        found = len(problems)
        if key in properties:
            if item is not None:  # an empty key is the same as an absent one
                item = _conform(item, properties[key], child, problems)
        elif extra is False:
            problems.append((child, f"unknown key{did_you_mean(key, properties)}"))
            continue
        elif isinstance(extra, dict):
            item = _conform(item, extra, child, problems)
        if len(problems) == found or isinstance(item, list | dict):
            kept[key] = item
    return kept


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
