"""docs/configuration.md, generated from the schema the validator uses.

`python -m dockyard.configdoc > docs/configuration.md` rewrites it; a test fails when the
file and the schema disagree, so the reference cannot drift from what is enforced.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from dockyard.schema import CONFIG_SCHEMA

_HEADER = """\
# Configuration reference: dockyard.yml

Generated from the JSON Schema that Dockyard validates against (`dockyard schema` prints
it; point yaml-language-server at it for completion in editors). Do not edit by hand:
run `python -m dockyard.configdoc > docs/configuration.md`.

Dockyard reads `dockyard.yml` in the working directory, or the file named by `--config`
or `DOCKYARD_CONFIG`. Every string may read the environment with `${VAR}` or
`${VAR:-default}` (`$$` is a literal `$`); an unset variable with no default is an error
that names it. Unknown keys are errors with a "did you mean" hint, and every problem is
reported at once with its key path and line. Values marked *secret* are masked in all
output and never written anywhere. Precedence: flags > environment > file > defaults.
`dockyard plan` builds and pushes nothing, so it goes on where only pushing or notifying
needs a variable (under `registries:` and `webhooks:`) or where the Dockerfile is missing,
and says so in a note for each; `run` needs them all.

The file is read within bounds: at most 256 KiB, values nested at most 32 levels deep
and at most 100,000 values once YAML aliases are expanded; a key given twice, a key that
is not a string (`1:`, `true:`), `.nan`/`.inf` and control characters in the file (tab
and line breaks aside) are errors. A double-quoted string's escapes (`"a\\tb"`) are YAML's
and stay in the value, but a `\\0` is refused wherever it is.

| key | type | required | description |
| --- | --- | --- | --- |
"""


def render(schema: Mapping[str, Any] = CONFIG_SCHEMA) -> str:
    rows = "".join(_row(path, node, required) for path, node, required in _walk(schema, ""))
    return _HEADER + rows


def _walk(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    required = set(node.get("required", ()))
    for key, child in node.get("properties", {}).items():
        child_path = f"{path}.{key}" if path else key
        yield child_path, child, key in required
        yield from _children(child, child_path)


def _children(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    if "properties" in node:
        yield from _walk(node, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and ("properties" in extra or "additionalProperties" in extra):
        yield from _children(extra, f"{path}.<name>")
    items = node.get("items")
    if isinstance(items, dict) and "properties" in items:
        yield from _walk(items, f"{path}[]")


def _row(path: str, node: Mapping[str, Any], required: bool) -> str:
    description = node.get("description", "").replace("|", "\\|")
    if node.get("writeOnly"):
        description = f"*secret*. {description}".strip()
    if "enum" in node:
        description += " One of: " + ", ".join(f"`{v}`" for v in node["enum"]) + "."
    if "default" in node:
        description += f" Default: `{node['default']}`."
    return f"| `{path}` | {_type(node)} | {'yes' if required else ''} | {description} |\n"


def _type(node: Mapping[str, Any]) -> str:
    types = node.get("type", "any")
    names = [types] if isinstance(types, str) else list(types)
    parts = []
    for name in names:
        if name == "array" and isinstance(node.get("items"), dict):
            parts.append(f"list of {_type(node['items'])}")
        elif name == "object":
            parts.append("mapping")
        else:
            parts.append(name)
    return " or ".join(parts)


if __name__ == "__main__":
    print(render(), end="")
