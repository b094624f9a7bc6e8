"""Tag rules: docker/metadata-action (v5) syntax and behaviour, as a pure function.

Users move here from metadata-action with their `tags:` and `flavor:` lines unchanged, so
every rule gives the tag metadata-action would give, in the same order, with the same
`version`. What metadata-action does, and this module repeats:

- Rules are sorted by priority (schedule 1000, semver/pep440 900, match 800, edge 700,
  ref 600, raw 200, sha 100; `priority=` overrides), stably, then applied in turn. The
  first tag produced is the `version`; later tags equal to an earlier one are dropped.
- `latest` follows `flavor latest=`: `auto` lets the first tag produced decide (semver
  and pep440 releases, `type=match` and `type=ref,event=tag` mean latest; a prerelease
  or anything else does not); `true`/`false` force it. It always comes last.
- A semver or pep440 prerelease (pep440 also post and dev releases) is tagged with its
  full version only, whatever the pattern, unless the pattern is exactly `{{raw}}`.
- A rule's own `prefix=`/`suffix=` (even empty) replaces the flavor's; `type=sha` and
  `type=ref,event=pr` carry the default prefixes `sha-` and `pr-`.
- Templates are Handlebars: `{{branch}}`, `{{tag}}`, `{{sha}}`, `{{base_ref}}`,
  `{{is_default_branch}}`, `{{is_not_default_branch}}`, `{{date 'FORMAT' tz='ZONE'}}` and
  `{{commit_date 'FORMAT' tz='ZONE'}}` with moment.js formats; `{{...}}` output is
  HTML-escaped as Handlebars does (then sanitised), `{{{...}}}` is not.
- Sanitising turns every run of characters outside `[A-Za-z0-9._-]` into one `-`. So
  semver build metadata keeps its information but not its `+`: `{{raw}}` of
  `v1.2.3+build.5` gives `v1.2.3-build.5` (`{{version}}` drops build metadata, as
  node-semver does), and a pep440 local version `1.2+abc` gives `1.2-abc`.

Where this module is stricter or does more than metadata-action, it is so that a
mistake is reported instead of silently giving an odd tag: unknown attributes,
unknown template expressions (metadata-action renders them empty), a bad `enable=` or
`priority=` and an `onlatest=` without a prefix or suffix are errors; an empty field
(`type=raw,foo,`) is ignored; a tag is also stripped of leading `.`/`-` and cut to 128
characters (Docker's limits); the latest tag's flavor prefix/suffix are rendered as
templates like every other prefix/suffix.

What Dockyard adds (docs/tagging.md has the user's view):

- Expressions for build information, read from the Context the CI adapters fill (this
  module never reads the environment): `{{run_number}}`, `{{run_id}}` and
  `{{sha 'N'}}` (the first N characters; `{{sha}}` stays metadata-action's 7). A rule
  using a run value the context lacks (outside CI) gives no tag, with the reason, rather
  than a tag with a hole in it. Environment values (`-production-amd64` suffixes) are
  `${NAME}` in dockyard.yml, substituted by the config loader; `{{env.NAME}}` is refused
  with a pointer to that.
- Every tag has a meaning: a release (one build for good: a full version, the git tag, a
  sha), a version line (`1`, `1.2`, `latest`) or a moving tag (branch, PR, schedule, edge,
  raw). `PlannedTag.floating` is "not a release"; publishing pushes releases first.
- The ambiguity guard (AmbiguousTagError, an InputError): a tag given twice is dropped
  only when both rules mean the same by it; otherwise both rules are named and nothing
  is built. It also refuses a moving tag shaped like the output of a semver/pep440 rule
  of the same configuration (branch `1.2` beside `{{major}}.{{minor}}`), since that
  build would move a version tag; tags from per-build values (dates, run numbers, shas)
  are not compared.
- Outside CI in a shallow clone, a rule that reads the git tag and found none says how to
  fetch it (`git fetch --tags --unshallow`).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import TYPE_CHECKING

from dockyard import patterns, versions
from dockyard.context import Context, unshallow_fix
from dockyard.errors import InputError
from dockyard.moment import format_moment

if TYPE_CHECKING:
    import semver

__all__ = [
    "DEFAULT_PRIORITIES",
    "AmbiguousTagError",
    "Flavor",
    "PlannedTag",
    "RuleSyntaxError",
    "SkippedRule",
    "TagPlan",
    "TagRule",
    "compute_tags",
    "default_rules",
    "format_moment",
    "parse_flavor",
    "parse_rules",
    "render_global",
    "sanitize_tag",
]

DEFAULT_PRIORITIES: Mapping[str, int] = MappingProxyType({
    "schedule": 1000,
    "semver": 900,
    "pep440": 900,
    "match": 800,
    "edge": 700,
    "ref": 600,
    "raw": 200,
    "sha": 100,
})
_DEFAULT_RULE_LINES = ("type=schedule", "type=ref,event=branch", "type=ref,event=tag",
                       "type=ref,event=pr")
_COMMON_ATTRS = ("enable", "priority", "prefix", "suffix")
_TYPE_ATTRS: Mapping[str, tuple[str, ...]] = {
    "schedule": ("pattern",),
    "semver": ("pattern", "value", "match"),
    "pep440": ("pattern", "value", "match"),
    "match": ("pattern", "group", "value"),
    "edge": ("branch",),
    "ref": ("event",),
    "raw": ("value",),
    "sha": ("format",),
}
_REF_EVENTS = ("branch", "tag", "pr")
_SHA_FORMATS = ("short", "long")
_LATEST_MODES = ("auto", "true", "false")
_BOOLEANS = ("true", "false")
_ENABLE_EXPRESSION = re.compile(r"\{\{\s*(is_default_branch|is_not_default_branch)\s*\}\}")
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_GROUP = re.compile(r"[0-9]{1,4}")  # ASCII digits: `²` passes str.isdigit but not int()
_PATTERN_MAX = 1000  # characters in a regular expression; `re` compiles by recursion
_TAG_MAX = 128


class RuleSyntaxError(InputError, ValueError):
    """Tag rules or flavor that cannot be used; every problem found, not just the first.

    `problems` pairs where (the index of the rule or flavor line, or the flavor key) with
    a message naming the attribute or value at fault and what is allowed.
    """

    def __init__(self, problems: Sequence[tuple[int | str, str]]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = [f"{count} problem{'s' if count != 1 else ''} in the tag rules:"]
        lines += [f"  - [{where}] {message}" for where, message in self.problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class TagRule:
    """One rule line, parsed, with metadata-action's defaults filled into `attrs`.

    An attribute absent from `attrs` was not written (that matters for `prefix` and
    `suffix`, which then come from the flavor).
    """

    type: str  # schedule|semver|pep440|match|edge|ref|raw|sha
    attrs: Mapping[str, str] = field(hash=False)
    source: str  # the rule as written
    priority: int


@dataclass(frozen=True)
class Flavor:
    latest: str = "auto"  # "auto", "true" or "false"
    prefix: str = ""
    suffix: str = ""
    prefix_onlatest: bool = False
    suffix_onlatest: bool = False


class TagKind(enum.Enum):
    """What a tag is, decided here once; publishing, promote and merge act on it.

    - RELEASE names one build for good and is never rewritten: a full version, the git
      tag, a sha.
    - VERSION_LINE follows the newest release of its line and never moves backwards:
      `1`, `1.2`, the flavor's `latest`.
    - CHANNEL is a pointer the user moves: a branch, a pull request, a schedule, `edge`,
      any raw name (`stable`, and a raw `latest`, which follows what enables it).
    """

    RELEASE = "release"
    VERSION_LINE = "version-line"
    CHANNEL = "channel"


@dataclass(frozen=True)
class PlannedTag:
    name: str  # the tag, sanitised
    rule: str  # source of the rule behind it; "flavor latest=auto" for latest
    priority: int
    kind: TagKind
    # For a version line, the leading version numbers it keeps: (1, 2) for `1.2`, (1,)
    # for `1`, () for latest; None when they are unknown (a `type=match` word).
    line: tuple[int, ...] | None = None

    @property
    def floating(self) -> bool:
        """Moves from build to build (every kind but a release)."""
        return self.kind is not TagKind.RELEASE


@dataclass(frozen=True)
class SkippedRule:
    rule: str
    reason: str


@dataclass(frozen=True)
class TagPlan:
    version: str | None  # metadata-action's `version` output: the first tag
    tags: tuple[PlannedTag, ...]
    skipped: tuple[SkippedRule, ...]


# --------------------------------------------------------------------------- parsing


def parse_rules(lines: Sequence[str] | str) -> tuple[TagRule, ...]:
    """Parse metadata-action `tags` lines; raise RuleSyntaxError listing every problem.

    A single string is read as the action's multi-line input. Blank lines and lines
    starting with `#` are skipped, as the action does; indexes in problems still count
    them.
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    rules: list[TagRule] = []
    problems: list[tuple[int | str, str]] = []
    for index, line in enumerate(lines):
        if not isinstance(line, str):
            problems.append((index, f"a rule is a line of text, not {type(line).__name__}"))
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rule, found = _parse_rule(line)
        problems += [(index, message) for message in found]
        if rule is not None and not found:
            rules.append(rule)
    if problems:
        raise RuleSyntaxError(problems)
    return tuple(rules)


def default_rules() -> tuple[TagRule, ...]:
    """metadata-action's rules when none are given: schedule, branch, tag and pr."""
    return parse_rules(_DEFAULT_RULE_LINES)


def parse_flavor(value: Sequence[str] | Mapping[str, object] | str | None) -> Flavor:
    """Parse `flavor`: metadata-action lines (`latest=auto`, `prefix=x-,onlatest=true`)
    or a mapping with the Flavor field names. Raises RuleSyntaxError."""
    if value is None:
        return Flavor()
    if isinstance(value, Mapping):
        return _flavor_from_mapping(value)
    if isinstance(value, str):
        value = value.splitlines()
    settings: dict[str, str | bool] = {}
    problems: list[tuple[int | str, str]] = []
    for index, line in enumerate(value):
        if not isinstance(line, str):
            problems.append((index, f"a flavor entry is a line of text, not {type(line).__name__}"))
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        problems += [(index, message) for message in _parse_flavor_line(line, settings)]
    if problems:
        raise RuleSyntaxError(problems)
    return _flavor(settings)


def _flavor(settings: Mapping[str, str | bool]) -> Flavor:
    def text(key: str, default: str) -> str:
        return str(settings.get(key, default))

    return Flavor(latest=text("latest", "auto"), prefix=text("prefix", ""),
                  suffix=text("suffix", ""),
                  prefix_onlatest=settings.get("prefix_onlatest") is True,
                  suffix_onlatest=settings.get("suffix_onlatest") is True)


def _parse_flavor_line(line: str, settings: dict[str, str | bool]) -> list[str]:
    try:
        fields = _split_fields(line)
    except _SyntaxProblem as exc:
        return [str(exc)]
    problems: list[str] = []
    onlatest_for = ""  # onlatest= applies to the prefix or suffix before it on the line
    for text in fields:
        key, sep, value = text.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep:
            problems.append(f"'{text.strip()}' is not key=value; allowed keys: latest, prefix, "
                            "suffix, onlatest")
        elif key == "latest":
            if value in _LATEST_MODES:
                settings["latest"] = value
            else:
                problems.append(f"latest '{value}' is not allowed; use auto, true or false")
        elif key in ("prefix", "suffix"):
            problems += [f"{key}: {p}" for p in _check_template(value, _GLOBAL_NAMES)]
            settings[key] = value
            onlatest_for = key
        elif key == "onlatest":
            if value not in _BOOLEANS:
                problems.append(f"onlatest '{value}' is not allowed; use true or false")
            elif not onlatest_for:
                problems.append("onlatest applies to the prefix= or suffix= before it on the "
                                "same line, and there is none")
            else:
                settings[f"{onlatest_for}_onlatest"] = value == "true"
        else:
            problems.append(f"unknown flavor key '{key}'{_did_you_mean(key, _FLAVOR_LINE_KEYS)}; "
                            "allowed: latest, prefix, suffix, onlatest")
    return problems


_FLAVOR_LINE_KEYS = ("latest", "prefix", "suffix", "onlatest")
_FLAVOR_FIELDS = ("latest", "prefix", "suffix", "prefix_onlatest", "suffix_onlatest")


def _flavor_from_mapping(value: Mapping[str, object]) -> Flavor:
    settings: dict[str, str | bool] = {}
    problems: list[tuple[int | str, str]] = []
    for key, item in value.items():
        if key == "latest":
            text = _bool_text(item)
            if text in _LATEST_MODES:
                settings[key] = text
            else:
                problems.append((key, f"latest {item!r} is not allowed; use auto, true or false"))
        elif key in ("prefix", "suffix"):
            if isinstance(item, str):
                problems += [(key, p) for p in _check_template(item, _GLOBAL_NAMES)]
                settings[key] = item.strip()
            else:
                problems.append((key, f"{key} must be text, not {type(item).__name__}"))
        elif key in ("prefix_onlatest", "suffix_onlatest"):
            text = _bool_text(item)
            if text in _BOOLEANS:
                settings[key] = text == "true"
            else:
                problems.append((key, f"{key} {item!r} is not allowed; use true or false"))
        else:
            name = str(key)
            problems.append((name, f"unknown flavor key '{name}'"
                                   f"{_did_you_mean(name, _FLAVOR_FIELDS)}; allowed: "
                                   + ", ".join(_FLAVOR_FIELDS)))
    if problems:
        raise RuleSyntaxError(problems)
    return _flavor(settings)


def _bool_text(item: object) -> str | None:
    """YAML reads `latest: true` as a boolean; metadata-action's syntax is text."""
    if isinstance(item, bool):
        return "true" if item else "false"
    return item.strip() if isinstance(item, str) else None


def _parse_rule(line: str) -> tuple[TagRule | None, list[str]]:
    try:
        fields = _split_fields(line)
    except _SyntaxProblem as exc:
        return None, [str(exc)]
    kind: str | None = None
    attrs: dict[str, str] = {}
    for text in fields:
        key, sep, value = text.partition("=")
        if not sep:  # shorthand: `type=raw,foo` and a bare `foo` are values
            attrs["value"] = key.strip()
        elif key.strip().lower() == "type":
            kind = value.strip()
        else:
            attrs[key.strip().lower()] = value.strip()
    untyped, kind = kind is None, "raw" if kind is None else kind
    if kind not in DEFAULT_PRIORITIES:
        return None, [f"unknown type '{kind}'{_did_you_mean(kind, DEFAULT_PRIORITIES)}; "
                      f"allowed: {', '.join(DEFAULT_PRIORITIES)}"]
    problems = _unknown_attributes(kind, attrs)
    if untyped and problems:  # `tags: [type=ref,event=branch]` is two items in YAML
        problems = [f"{problem}. If '{line.strip()}' is the rest of the rule before it: "
                    "a YAML flow list ([a, b]) splits at every comma; quote each rule "
                    "(\"type=ref,event=branch\") or write one rule a line"
                    for problem in problems]
    problems += _TYPE_CHECKS[kind](attrs)
    attrs.setdefault("enable", "true")
    attrs.setdefault("priority", str(DEFAULT_PRIORITIES[kind]))
    problems += _check_common(attrs)
    if problems:
        return None, problems
    return TagRule(type=kind, attrs=MappingProxyType(attrs), source=line.strip(),
                   priority=int(attrs["priority"])), []


def _unknown_attributes(kind: str, attrs: Mapping[str, str]) -> list[str]:
    allowed = _COMMON_ATTRS + _TYPE_ATTRS[kind]
    return [
        f"unknown attribute '{key}' for type={kind}{_did_you_mean(key, allowed)}; "
        f"allowed: {', '.join(allowed)}"
        for key in attrs
        if key not in allowed
    ]


def _check_common(attrs: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    enable = attrs["enable"]
    if enable not in _BOOLEANS and not _ENABLE_EXPRESSION.fullmatch(enable):
        problems.append(f"enable '{enable}' is not allowed; use true, false, "
                        "{{is_default_branch}} or {{is_not_default_branch}}")
    if not _INTEGER.fullmatch(attrs["priority"]):
        problems.append(f"priority '{attrs['priority']}' must be a whole number")
    for key in ("prefix", "suffix"):
        if key in attrs:
            problems += [f"{key}: {p}" for p in _check_template(attrs[key], _GLOBAL_NAMES)]
    return problems


def _check_schedule(attrs: dict[str, str]) -> list[str]:
    attrs.setdefault("pattern", "nightly")
    return [f"pattern: {p}" for p in _check_template(attrs["pattern"], _DATE_NAMES)]


def _check_version(names: Mapping[str, str]) -> Callable[[dict[str, str]], list[str]]:
    def check(attrs: dict[str, str]) -> list[str]:
        problems: list[str] = []
        if "pattern" not in attrs:
            problems.append("a pattern attribute is required, e.g. pattern={{version}}")
        else:
            problems += [f"pattern: {p}" for p in _check_template(attrs["pattern"], names)]
        attrs.setdefault("value", "")
        attrs.setdefault("match", "")
        problems += [f"value: {p}" for p in _check_template(attrs["value"], _GLOBAL_NAMES)]
        if attrs["match"]:
            try:
                if _js_regex(attrs["match"], slashes=False)[0].groups < 1:
                    problems.append(f"match '{attrs['match']}' needs a capture group: the "
                                    "version is what group 1 captures")
            except re.error as exc:
                problems.append(f"match '{attrs['match']}' is not a valid regular expression: "
                                f"{exc}")
        return problems

    return check


def _check_match(attrs: dict[str, str]) -> list[str]:
    problems: list[str] = []
    if "pattern" not in attrs:
        problems.append("a pattern attribute is required, e.g. pattern=v(.*),group=1")
    else:
        try:
            _js_regex(attrs["pattern"], slashes=True)
        except re.error as exc:
            problems.append(f"pattern '{attrs['pattern']}' is not a valid regular expression: "
                            f"{exc}")
    attrs.setdefault("group", "0")
    if not _GROUP.fullmatch(attrs["group"]):
        problems.append(f"group '{attrs['group']}' must be a whole number (0 is the whole match)")
    attrs.setdefault("value", "")
    problems += [f"value: {p}" for p in _check_template(attrs["value"], _GLOBAL_NAMES)]
    return problems


def _check_edge(attrs: dict[str, str]) -> list[str]:
    attrs.setdefault("branch", "")
    return []


def _check_ref(attrs: dict[str, str]) -> list[str]:
    event = attrs.get("event")
    if event is None:
        return ["an event attribute is required: event=branch, event=tag or event=pr"]
    if event not in _REF_EVENTS:
        return [f"event '{event}' is not allowed{_did_you_mean(event, _REF_EVENTS)}; "
                "use branch, tag or pr"]
    if event == "pr":
        attrs.setdefault("prefix", "pr-")
    return []


def _check_raw(attrs: dict[str, str]) -> list[str]:
    if "value" not in attrs:
        return ["a value attribute is required, e.g. type=raw,value=stable"]
    return [f"value: {p}" for p in _check_template(attrs["value"], _GLOBAL_NAMES)]


def _check_sha(attrs: dict[str, str]) -> list[str]:
    attrs.setdefault("prefix", "sha-")
    attrs.setdefault("format", "short")
    if attrs["format"] not in _SHA_FORMATS:
        return [f"format '{attrs['format']}' is not allowed; use short or long"]
    return []


def _did_you_mean(word: str, choices: Sequence[str] | Mapping[str, object]) -> str:
    import difflib  # for mistakes only

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _SyntaxProblem(ValueError):
    pass


def _split_fields(line: str) -> list[str]:
    """Split one line into fields the way csv-parse does for metadata-action.

    Fields are separated by commas; a whole field may be wrapped in double quotes, so it
    can hold commas (`"value={{date 'YYYY,MM'}}"`), with `""` for a quote inside.
    Empty fields are dropped.
    """
    fields: list[str] = []
    pos, end = 0, len(line)
    while pos <= end:
        start = pos
        while start < end and line[start] in " \t":
            start += 1
        if start < end and line[start] == '"':
            text, pos = _quoted_field(line, start)
        else:
            comma = line.find(",", pos)
            pos = end if comma < 0 else comma
            text = line[start:pos]
            if '"' in text:
                raise _SyntaxProblem(f"stray double quote in '{text.strip()}': quote the whole "
                                     'field, as in "pattern=...", and double any quote inside')
        if "\n" in text or "\r" in text:
            raise _SyntaxProblem("a rule must fit on one line")
        if text.strip():
            fields.append(text)
        pos += 1  # past the comma (or the end)
    return fields


def _quoted_field(line: str, start: int) -> tuple[str, int]:
    chars: list[str] = []
    pos = start + 1
    while True:
        quote = line.find('"', pos)
        if quote < 0:
            raise _SyntaxProblem(f"the double quote opened at column {start + 1} is never closed")
        chars.append(line[pos:quote])
        if line.startswith('""', quote):
            chars.append('"')
            pos = quote + 2
            continue
        pos = quote + 1
        break
    rest = line.find(",", pos)
    rest = len(line) if rest < 0 else rest
    if line[pos:rest].strip():
        raise _SyntaxProblem(f"unexpected text after the closing quote: '{line[pos:rest]}'")
    return "".join(chars), rest


def _js_regex(pattern: str, *, slashes: bool) -> tuple[re.Pattern[str], bool]:
    """Compile a JavaScript regular expression; returns it and whether it has the g flag.

    `type=match` accepts `/source/flags`; named groups are written `(?<name>...)` in JS.
    """
    if len(pattern) > _PATTERN_MAX:
        raise re.error(f"it is longer than {_PATTERN_MAX} characters")
    flags, global_flag = re.ASCII, False
    literal = re.fullmatch(r"/(.+)/(.*)", pattern, re.S) if slashes else None
    if literal:
        pattern = literal.group(1)
        for flag in literal.group(2):
            if flag == "i":
                flags |= re.IGNORECASE
            elif flag == "m":
                flags |= re.MULTILINE
            elif flag == "s":
                flags |= re.DOTALL
            elif flag == "g":
                global_flag = True
            elif flag not in "uyd":
                raise re.error(f"unknown flag '{flag}'")
    pattern = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)
    pattern = re.sub(r"\\k<([A-Za-z_]\w*)>", r"(?P=\1)", pattern)
    try:
        return re.compile(pattern, flags), global_flag
    except RecursionError:  # nested groups, e.g. 1,000 parentheses deep
        raise re.error("its groups are nested too deeply") from None
    except OverflowError as exc:  # a{99999999999}
        raise re.error(str(exc)) from None


def _search(regex: re.Pattern[str], source: str, text: str,
            every: bool = False) -> list[str | None] | None:
    """patterns.search, its bound reported as a problem with the rule."""
    try:
        return patterns.search(regex, text, every=every)
    except patterns.TooMuchWork as exc:
        raise _TemplateError(f"pattern '{source[:80]}' {exc} against '{text[:80]}'; simplify "
                             "it: a repetition inside a repetition, as in (a+)+, backtracks "
                             "exponentially") from None


# ------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class _Expression:
    """One `{{name arg key='value'}}`; an argument is None when it was a bare word."""

    name: str
    args: tuple[str | None, ...]
    options: tuple[tuple[str, str | None], ...]
    escape: bool


_Template = tuple[str | _Expression, ...]
_Scope = Mapping[str, Callable[[_Expression], str]]

# Names a template may use, each with the arguments it takes: none ("value"), a
# moment.js format and a time zone ("date"), or an optional length ("length").
_VALUE, _DATE, _LENGTH = "value", "date", "length"
_GLOBAL_NAMES: Mapping[str, str] = {
    "branch": _VALUE, "tag": _VALUE, "sha": _LENGTH, "base_ref": _VALUE,
    "is_default_branch": _VALUE, "is_not_default_branch": _VALUE,
    "date": _DATE, "commit_date": _DATE,
    # Dockyard's own, from the CI run (see the module docstring).
    "run_number": _VALUE, "run_id": _VALUE,
}
_DATE_NAMES: Mapping[str, str] = {"date": _DATE, "commit_date": _DATE}
_SEMVER_NAMES: Mapping[str, str] = dict.fromkeys(
    ("raw", "version", "major", "minor", "patch", "prerelease", "build"), _VALUE)
_PEP440_NAMES: Mapping[str, str] = dict.fromkeys(
    ("raw", "version", "major", "minor", "patch"), _VALUE)
# Expressions whose value changes from build to build by nature (dates, run numbers,
# shas): a tag made from them is not compared with version shapes (see _guard).
_PER_BUILD_NAMES = frozenset(("date", "commit_date", "run_number", "run_id", "sha"))
_SHA_LENGTHS = range(1, 65)  # 40 for SHA-1 repositories, 64 for SHA-256 ones
# A pattern that names one of these gives the full version, not a floating one.
_FULL_VERSION_NAMES = frozenset(("raw", "version", "patch", "prerelease", "build"))

_EXPRESSION_TOKEN = re.compile(
    r"""\s*(?:(?P<key>[A-Za-z_][\w-]*)=)?(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)"|(?P<word>[^\s'"=]+))"""
)
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                               "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"})


class _TemplateError(ValueError):
    pass


def _parse_template(text: str) -> _Template:
    parts: list[str | _Expression] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            parts.append(text[pos:])
            break
        parts.append(text[pos:start])
        width = 3 if text.startswith("{{{", start) else 2
        close = "}" * width
        end = text.find(close, start + width)
        if end < 0:
            raise _TemplateError(f"'{'{' * width}' at column {start + 1} is never closed")
        parts.append(_parse_expression(text[start + width:end], escape=width == 2))
        pos = end + width
    return tuple(part for part in parts if part != "")


def _parse_expression(body: str, *, escape: bool) -> _Expression:
    inner = body.strip()
    if inner.startswith("&"):
        inner, escape = inner[1:].strip(), False
    if not inner or inner[0] in "#/^!>~*@" or inner.endswith("~") or inner == "else":
        raise _TemplateError(f"'{{{{{body}}}}}' is not supported; write {{{{name}}}} or "
                             "{{date 'FORMAT' tz='ZONE'}}")
    tokens: list[re.Match[str]] = []
    pos = 0
    while pos < len(inner):
        match = _EXPRESSION_TOKEN.match(inner, pos)
        if match is None:
            raise _TemplateError(f"cannot read '{{{{{body}}}}}' from '{inner[pos:]}'")
        tokens.append(match)
        pos = match.end()
    head = tokens[0]
    if head["word"] is None or head["key"] is not None:
        raise _TemplateError(f"'{{{{{body}}}}}' must start with a name")
    args: list[str | None] = []
    options: list[tuple[str, str | None]] = []
    for token in tokens[1:]:
        literal = token["single"] if token["single"] is not None else token["double"]
        if token["key"] is not None:
            options.append((token["key"], literal))
        else:
            args.append(literal)
    return _Expression(head["word"], tuple(args), tuple(options), escape)


def _check_template(text: str, names: Mapping[str, str]) -> list[str]:
    """Problems with a template, given the names it may use there."""
    try:
        template = _parse_template(text)
    except _TemplateError as exc:
        return [str(exc)]
    problems: list[str] = []
    for part in template:
        if isinstance(part, str):
            continue
        if part.name not in names:
            allowed = ", ".join(f"{{{{{name}}}}}" for name in names)
            problems.append(f"unknown expression '{{{{{part.name}}}}}'"
                            f"{_expression_hint(part.name, names)}; allowed here: {allowed}")
        elif names[part.name] == _VALUE and (part.args or part.options):
            problems.append(f"'{{{{{part.name}}}}}' takes no arguments")
        elif names[part.name] == _DATE:
            problems += _check_date_expression(part)
        elif names[part.name] == _LENGTH:
            problems += _check_length_expression(part)
    return problems


def _expression_hint(name: str, names: Mapping[str, str]) -> str:
    """Point people who paste a CI's own expression syntax at Dockyard's."""
    scope, dot, rest = name.partition(".")
    if dot and scope == "env":
        return (f" (dockyard.yml reads the environment when it is loaded: write ${{{rest}}} "
                f"or ${{{rest}:-default}} instead)")
    if dot and scope == "github" and rest in ("run_number", "run_id", "sha"):
        return f" (write {{{{{rest}}}}}: it reads the run of any CI)"
    if dot:
        return (" (CI expressions are not evaluated in tag rules; use ${NAME} for an "
                "environment variable)")
    return _did_you_mean(name, names)


def _check_length_expression(expression: _Expression) -> list[str]:
    name = expression.name
    if expression.options or len(expression.args) > 1:
        return [f"'{{{{{name}}}}}' takes one quoted length at most, e.g. {{{{{name} '12'}}}}"]
    if not expression.args:
        return []
    length = expression.args[0]
    if length is None or not _GROUP.fullmatch(length) or int(length) not in _SHA_LENGTHS:
        return [f"'{{{{{name}}}}}' length must be a quoted whole number from 1 to 64, e.g. "
                f"{{{{{name} '12'}}}}"]
    return []


def _check_date_expression(expression: _Expression) -> list[str]:
    problems: list[str] = []
    if len(expression.args) > 1:
        problems.append(f"'{{{{{expression.name}}}}}' takes one format, e.g. "
                        f"{{{{{expression.name} 'YYYYMMDD'}}}}")
    for key, value in expression.options:
        if key != "tz":
            problems.append(f"unknown option '{key}' in '{{{{{expression.name}}}}}'; only "
                            "tz='ZONE' is allowed")
        elif value is None:
            problems.append("tz must be quoted, e.g. tz='Europe/Paris'")
        else:
            try:
                _zone(value)
            except _TemplateError as exc:
                problems.append(str(exc))
    return problems


def _render(text: str, scope: _Scope) -> str:
    out: list[str] = []
    for part in _parse_template(text):
        if isinstance(part, str):
            out.append(part)
        elif part.name not in scope:
            raise _TemplateError(f"unknown expression '{{{{{part.name}}}}}' in '{text}'")
        else:
            value = scope[part.name](part)
            out.append(value.translate(_HTML_ESCAPES) if part.escape else value)
    return "".join(out)


def _names(text: str) -> frozenset[str]:
    return frozenset(p.name for p in _parse_template(text) if isinstance(p, _Expression))


def _is_raw_statement(pattern: str) -> bool:
    """metadata-action's isRawStatement: the pattern is `{{raw}}` and nothing else."""
    try:
        template = _parse_template(pattern)
    except _TemplateError:
        return False
    return (len(template) == 1 and isinstance(template[0], _Expression)
            and template[0].name == "raw")


def _constant(value: str) -> Callable[[_Expression], str]:
    return lambda _expression: value


class _Unknown(Exception):
    """A Dockyard expression whose value this context does not have: the rule using it
    gives no tag (with this as the reason) rather than a tag with a hole in it."""


def _known(value: str | None, name: str, provider: str) -> Callable[[_Expression], str]:
    def render(_expression: _Expression) -> str:
        if value is None:
            where = "outside CI" if provider == "local" else f"on {provider}"
            raise _Unknown(f"{{{{{name}}}}} is unknown {where}: the CI run sets it")
        return value

    return render


def _sha_helper(sha: str, short: int) -> Callable[[_Expression], str]:
    """`{{sha}}` is the short sha (7 characters, or DOCKER_METADATA_SHORT_SHA_LENGTH, as
    metadata-action); `{{sha '12'}}` the first 12."""

    def render(expression: _Expression) -> str:
        length = expression.args[0] if expression.args else None
        return sha[:int(length)] if length and _GROUP.fullmatch(length) else sha[:short]

    return render


def _date_helper(when: datetime) -> Callable[[_Expression], str]:
    def render(expression: _Expression) -> str:
        zone: tzinfo = timezone.utc
        for key, value in expression.options:
            if key == "tz" and value is not None:
                zone = _zone(value)
        local = when.astimezone(zone)
        fmt = expression.args[0] if expression.args else None
        if fmt is None:  # no format, or an unquoted word (undefined in Handlebars)
            utc = local.utcoffset() == timedelta(0)
            fmt = "YYYY-MM-DDTHH:mm:ss[Z]" if utc else "YYYY-MM-DDTHH:mm:ssZ"
        return format_moment(local, fmt)

    return render


def _zone(name: str) -> tzinfo:
    if name == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # for rules naming a time zone only

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _TemplateError(f"unknown time zone '{name}'; use an IANA name such as "
                             "'Europe/Paris'") from None


@functools.cache
def _lazy(pattern: str, flags: int) -> re.Pattern[str]:
    """Compile on first use: most runs of `dockyard plan` never need these patterns."""
    return re.compile(pattern, flags)


# ------------------------------------------------------------------------- versions


@dataclass(frozen=True)
class _Pep440:
    epoch: int
    release: tuple[int, ...]
    pre: tuple[str, int] | None
    post: int | None
    dev: int | None
    local: tuple[str, ...] | None

    def clean(self) -> str:
        """The normalised form, as @renovate/pep440's clean() writes it."""
        text = f"{self.epoch}!" if self.epoch else ""
        text += ".".join(str(part) for part in self.release)
        if self.pre:
            text += f"{self.pre[0]}{self.pre[1]}"
        if self.post is not None:
            text += f".post{self.post}"
        if self.dev is not None:
            text += f".dev{self.dev}"
        if self.local:
            text += "+" + ".".join(self.local)
        return text

    def part(self, index: int) -> int:
        return self.release[index] if index < len(self.release) else 0


_PEP440_PATTERN = (
    r"""
    v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    """,
    re.VERBOSE | re.IGNORECASE | re.ASCII,
)
_PRE_SPELLINGS = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}


def _parse_pep440(text: str) -> _Pep440 | None:
    """PEP 440 versions as @renovate/pep440 (metadata-action's parser) reads them."""
    match = _lazy(*_PEP440_PATTERN).fullmatch(text)
    if match is None:
        return None
    pre = None
    if match["pre_l"]:
        letter = match["pre_l"].lower()
        pre = (_PRE_SPELLINGS.get(letter, letter), int(match["pre_n"] or 0))
    post = None
    if match["post_l"] or match["post_n1"]:
        post = int(match["post_n1"] or match["post_n2"] or 0)
    local = None
    if match["local"]:
        local = tuple(str(int(p)) if p.isdigit() else p.lower()
                      for p in re.split(r"[-_.]", match["local"]))
    return _Pep440(
        epoch=int(match["epoch"] or 0),
        release=tuple(int(part) for part in match["release"].split(".")),
        pre=pre,
        post=post,
        dev=int(match["dev_n"] or 0) if match["dev_l"] else None,
        local=local,
    )


def _parse_semver(text: str) -> semver.Version | None:
    """node-semver's valid(): strict SemVer 2.0 with an optional leading `v`."""
    return versions.parse(text)


def _semver_scope(text: str, version: semver.Version) -> _Scope:
    """The fields of a node-semver SemVer object, as a Handlebars pattern sees them."""
    plain = f"{version.major}.{version.minor}.{version.patch}"
    if version.prerelease:
        plain += f"-{version.prerelease}"
    return {
        "raw": _constant(text),
        "version": _constant(plain),
        "major": _constant(str(version.major)),
        "minor": _constant(str(version.minor)),
        "patch": _constant(str(version.patch)),
        # node-semver keeps these as arrays; Handlebars prints arrays comma-separated.
        "prerelease": _constant((version.prerelease or "").replace(".", ",")),
        "build": _constant((version.build or "").replace(".", ",")),
    }


def _pep440_scope(text: str, version: _Pep440) -> _Scope:
    return {
        "raw": _constant(text),
        "version": _constant(version.clean()),
        "major": _constant(str(version.part(0))),
        "minor": _constant(str(version.part(1))),
        "patch": _constant(str(version.part(2))),
    }


def _is_release_value(value: str, tag: str | None) -> bool:
    """Whether a type=match tag names one release: the whole git tag or a full x.y.z."""
    return value == tag or _parse_semver(value) is not None


# ----------------------------------------------------------------------- computation


def sanitize_tag(value: str) -> str:
    """A valid Docker tag from any text, as metadata-action sanitises (every run of
    characters outside [A-Za-z0-9._-] becomes `-`), then without a leading `.` or `-`
    and at most 128 characters, which Docker requires. "" when nothing is left."""
    return _replace_invalid(value).lstrip(".-")[:_TAG_MAX]


def _replace_invalid(text: str) -> str:
    """metadata-action's sanitising: each run of characters a tag cannot hold becomes `-`."""
    return re.sub(r"[^a-zA-Z0-9._-]+", "-", text)


@dataclass(frozen=True)
class _Facts:
    """What the rules read from the context, named as metadata-action names it."""

    context: Context
    branch: str | None  # from refs/heads/
    tag: str | None  # from refs/tags/
    pr: str | None  # from refs/pull/N/merge

    @classmethod
    def of(cls, context: Context) -> _Facts:
        ref = context.ref
        pr = None
        if ref.startswith("refs/pull/"):
            pr = re.sub(r"/merge$", "", ref[len("refs/pull/"):])
        return cls(context, _after(ref, "refs/heads/"), _after(ref, "refs/tags/"), pr)

    def where(self) -> str:
        return f"ref is {self.context.ref}" if self.context.ref else "no git ref is known"

    def is_default_branch(self) -> bool:
        """As metadata-action: the ref (less refs/heads/) is the default branch, or the
        event is one GitHub only runs on the default branch."""
        ref = self.context.ref
        if not ref:
            return False
        name = ref.removeprefix("refs/heads/")
        if self.context.default_branch and name == self.context.default_branch:
            return True
        return any(word in self.context.event
                   for word in ("create", "discussion", "issues", "schedule"))

    def scope(self) -> _Scope:
        context = self.context
        base_ref = ""
        if (self.tag is not None or self.pr is not None) and context.base_ref:
            base_ref = context.base_ref.removeprefix("refs/heads/")
        default = self.is_default_branch()
        now = _aware(context.now)
        return {
            "branch": _constant(self.branch or ""),
            "tag": _constant(self.tag or ""),
            "sha": _sha_helper(context.sha, context.short_sha_length),
            "base_ref": _constant(base_ref),
            "is_default_branch": _constant("true" if default else "false"),
            "is_not_default_branch": _constant("false" if default else "true"),
            "date": _date_helper(now),
            # metadata-action falls back to now when it cannot find the commit date.
            "commit_date": _date_helper(_aware(context.commit_date or now)),
            "run_number": _known(context.run_number, "run_number", context.provider),
            "run_id": _known(context.run_id, "run_id", context.provider),
        }


def _after(ref: str, prefix: str) -> str | None:
    return ref[len(prefix):] if ref.startswith(prefix) else None


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# What a tag means is its kind; the ambiguity guard lets two rules give the same tag
# only when they mean the same by it.
_RELEASE = TagKind.RELEASE
_LINE = TagKind.VERSION_LINE
_MOVING = TagKind.CHANNEL
_MOVING_KINDS = {
    "schedule": "a scheduled tag (moved by every scheduled build)",
    "edge": "the edge tag (moved by every push to the edge branch)",
    "branch": "a branch tag (moved by every push to the branch)",
    "pr": "a pull request tag (moved by every push to the pull request)",
    "raw": "a raw tag (moved by every build that gives it)",
}


def _describe(meaning: TagKind, rule: TagRule | None) -> str:
    """What a tag means, in words, for the ambiguity guard's messages; `rule` is None for
    the flavor's latest."""
    if meaning == _RELEASE:
        return "a release tag (one build, for good)"
    if meaning == _LINE:
        if rule is None or rule.type == "raw":
            return "latest (moved to every new release)"
        return "a version tag (moved to every new release of its line)"
    if rule is None:
        return _MOVING_KINDS["raw"]
    return _MOVING_KINDS.get(rule.attrs.get("event", rule.type), _MOVING_KINDS["raw"])


@dataclass(frozen=True)
class _Candidate:
    value: str  # before sanitising
    meaning: TagKind
    means_latest: bool  # with latest=auto, whether this rule coming first means latest
    note: str = ""  # said when the tag turns out to be a duplicate
    line: tuple[int, ...] | None = None  # a version line's leading numbers


class AmbiguousTagError(RuleSyntaxError):
    """Two rules give one tag different meanings (see `compute_tags`); `problems` pairs
    each such tag with both rules and what each means by it."""

    def __init__(self, problems: Sequence[tuple[int | str, str]]) -> None:
        super().__init__(problems)
        count = len(self.problems)
        lines = [f"{count} ambiguous tag{'s' if count != 1 else ''}: two rules give one tag "
                 "different meanings, so Dockyard refuses to guess:"]
        lines += [f"  - [{where}] {message}" for where, message in self.problems]
        self.message = "\n".join(lines)
        self.args = (self.message,)


def compute_tags(rules: Sequence[TagRule] | None, flavor: Flavor, context: Context) -> TagPlan:
    """The tags metadata-action would give for this context. Pure: no I/O, no clock.

    No rules (None or empty, as in metadata-action) means default_rules(). Raises
    AmbiguousTagError when two rules would give one tag different meanings: in this
    build (a release tag and a floating one, or a version tag and a moving one), or
    across builds (a moving tag, such as branch `1.2`, that has the shape of the tags a
    semver or pep440 rule gives on tag builds, such as `{{major}}.{{minor}}`).
    """
    chosen = tuple(rules) if rules else default_rules()
    facts = _Facts.of(context)
    scope = facts.scope()
    tags: list[PlannedTag] = []
    skipped: list[SkippedRule] = []
    meanings: dict[str, tuple[TagKind, str]] = {}  # tag -> (kind, in words)
    raw_latest: set[str] = set()  # tags given by a `type=raw,value=latest`
    problems: list[tuple[int | str, str]] = []
    latest: bool | None = None
    for rule in sorted(chosen, key=lambda r: -r.priority):
        try:
            outcome = _apply(rule, flavor, facts, scope)
        except _TemplateError as exc:
            raise RuleSyntaxError([(rule.source, str(exc))]) from None
        except _Unknown as exc:
            outcome = str(exc)
        if isinstance(outcome, str):
            skipped.append(SkippedRule(rule.source, _with_fetch_hint(rule, outcome, context)))
            continue
        name = sanitize_tag(outcome.value)
        if not name:
            reason = (f"'{outcome.value}' leaves no tag once sanitised" if outcome.value
                      else "gives an empty tag")
            skipped.append(SkippedRule(rule.source, reason))
            continue
        if latest is None:
            latest = outcome.means_latest if flavor.latest == "auto" else flavor.latest == "true"
        same = next((t for t in tags if t.name == name), None)
        if same is not None:
            if meanings[name][0] != outcome.meaning:
                problems.append((name, _clash(name, same.rule, meanings[name][1], rule.source,
                                              _describe(outcome.meaning, rule))))
            reason = f"gives '{name}', already given by '{same.rule}'{outcome.note}"
            skipped.append(SkippedRule(rule.source, reason))
            continue
        tags.append(PlannedTag(name, rule.source, rule.priority, outcome.meaning,
                               outcome.line if outcome.meaning is _LINE else None))
        meanings[name] = (outcome.meaning, _describe(outcome.meaning, rule))
        if rule.type == "raw" and rule.attrs.get("value", "").strip() == "latest":
            raw_latest.add(name)
    if tags:
        _add_latest(tags, skipped, meanings, problems, flavor, scope, bool(latest),
                    raw_latest)
    problems += _version_shaped(tags, meanings, chosen, flavor, scope)
    if problems:
        raise AmbiguousTagError(problems)
    return TagPlan(version=tags[0].name if tags else None, tags=tuple(tags),
                   skipped=tuple(skipped))


def render_global(text: str, context: Context) -> str:
    """`text` with metadata-action's global expressions (`{{branch}}`, `{{sha}}`,
    `{{date 'FORMAT'}}`, `{{commit_date 'FORMAT'}}`...) rendered, as metadata-action renders
    `labels` and `annotations` values: `{{...}}` HTML-escaped as Handlebars does, `{{{...}}}`
    not, and not sanitised (a label value is no tag). A run value the context lacks renders
    empty, as metadata-action's Handlebars does. Raises ValueError naming the problem (an
    unknown expression, a bad format)."""
    problems = _check_template(text, _GLOBAL_NAMES)
    if problems:
        raise ValueError("; ".join(problems))
    scope = dict(_Facts.of(context).scope())
    for name in ("run_number", "run_id"):
        scope[name] = _constant(getattr(context, name) or "")
    try:
        return _render(text, scope)
    except _TemplateError as exc:  # a time zone that went away since the check
        raise ValueError(str(exc)) from None


def _clash(name: str, first: str, first_meaning: str, second: str, second_meaning: str) -> str:
    return (f"'{first}' gives '{name}' as {first_meaning}, and '{second}' gives "
            f"it as {second_meaning}: one tag cannot mean both. Give one of the "
            "rules its own prefix= or suffix=, or an enable= that keeps it off this build")


def _add_latest(tags: list[PlannedTag], skipped: list[SkippedRule],
                meanings: dict[str, tuple[TagKind, str]],
                problems: list[tuple[int | str, str]], flavor: Flavor, scope: _Scope,
                latest: bool, raw_latest: set[str]) -> None:
    source = f"flavor latest={flavor.latest}"
    if not latest:
        reason = ("latest=false" if flavor.latest == "false" else
                  f"the first tag ('{tags[0].name}' from '{tags[0].rule}') is not a release")
        skipped.append(SkippedRule(source, reason))
        return
    try:
        prefix = _render(flavor.prefix, scope) if flavor.prefix_onlatest else ""
        suffix = _render(flavor.suffix, scope) if flavor.suffix_onlatest else ""
    except _Unknown as exc:
        skipped.append(SkippedRule(source, str(exc)))
        return
    name = sanitize_tag(f"{prefix}latest{suffix}")
    same = next((t for t in tags if t.name == name), None)
    if same is not None and name in raw_latest:
        # A raw `latest` on a build whose flavor gives latest too: one tag, as in
        # metadata-action, and the flavor's meaning (never backwards) is the stricter one.
        tags[tags.index(same)] = replace(same, kind=_LINE, line=())
        meanings[name] = (_LINE, _describe(_LINE, None))
        skipped.append(SkippedRule(source, f"gives '{name}', already given by '{same.rule}' "
                                           "(a version line on this build)"))
        return
    if same is not None:
        if meanings[name][0] != _LINE:
            problems.append((name, _clash(name, same.rule, meanings[name][1], source,
                                          _describe(_LINE, None))))
        skipped.append(SkippedRule(source, f"gives '{name}', already given by '{same.rule}'"))
        return
    # metadata-action always lists latest last; its priority keeps the order sorted.
    tags.append(PlannedTag(name, source, min(0, tags[-1].priority), _LINE, ()))
    meanings[name] = (_LINE, _describe(_LINE, None))


# The shapes of what semver and pep440 patterns give, once sanitised.
_NUMBER = r"(?:0|[1-9][0-9]*)"
_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_SEMVER_VERSION = rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-{_IDENTIFIERS})?"
_PEP440_VERSION = (r"(?:[0-9]+-)?[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?"
                   r"(?:\.dev[0-9]+)?(?:-[a-z0-9]+(?:\.[a-z0-9]+)*)?")
_VERSION_SHAPES: Mapping[str, Mapping[str, str]] = {
    "semver": {
        "major": _NUMBER, "minor": _NUMBER, "patch": _NUMBER, "version": _SEMVER_VERSION,
        "raw": rf"v?{_SEMVER_VERSION}(?:-{_IDENTIFIERS})?",
        "prerelease": "[0-9A-Za-z-]*", "build": "[0-9A-Za-z-]*",
    },
    "pep440": {
        "major": "[0-9]+", "minor": "[0-9]+", "patch": "[0-9]+", "version": _PEP440_VERSION,
        "raw": f"v?{_PEP440_VERSION}",
    },
}


def _version_shaped(tags: Sequence[PlannedTag], meanings: Mapping[str, tuple[TagKind, str]],
                    rules: Sequence[TagRule], flavor: Flavor,
                    scope: _Scope) -> list[tuple[int | str, str]]:
    """Moving tags of this build that a semver/pep440 rule would give on a tag build.

    A branch `1.2` beside `type=semver,pattern={{major}}.{{minor}}` moves the `1.2`
    version tag to whatever that branch holds, on every push: the version tag would go
    backwards. Tags made from per-build values (dates, run numbers, shas) are not
    compared: a nightly `20240101` is not mistaken for a major version.
    """
    by_source = {rule.source: rule for rule in rules}
    moving = [t for t in tags if meanings[t.name][0] == _MOVING and t.rule in by_source
              and not (_rule_names(by_source[t.rule], flavor) & _PER_BUILD_NAMES)]
    if not moving:
        return []
    problems: list[tuple[int | str, str]] = []
    for rule in rules:
        shape = _version_shape(rule, flavor, scope)
        if shape is None:
            continue
        regex, meaning = shape
        for planned in moving:
            if regex.fullmatch(planned.name) and planned.rule != rule.source:
                problems.append((planned.name, (
                    f"'{planned.rule}' gives '{planned.name}' as {meanings[planned.name][1]}, "
                    f"and '{rule.source}' gives tags of that shape on tag builds as "
                    f"{_describe(meaning, rule)}: this build would move a version tag. Give the "
                    f"moving tag a prefix= or suffix= (e.g. prefix=branch-), or an enable= "
                    "that keeps it off this build")))
    return problems


def _rule_names(rule: TagRule, flavor: Flavor) -> frozenset[str]:
    """Every expression a rule's tag is made from, its prefix and suffix included."""
    texts = [rule.attrs.get(key, "") for key in ("value", "pattern")]
    texts += [rule.attrs.get("prefix", flavor.prefix), rule.attrs.get("suffix", flavor.suffix)]
    names: frozenset[str] = frozenset()
    for text in texts:
        try:
            names |= _names(text)
        except _TemplateError:
            continue
    return names


def _version_shape(rule: TagRule, flavor: Flavor,
                   scope: _Scope) -> tuple[re.Pattern[str], TagKind] | None:
    """A regular expression for the tags a semver/pep440 rule gives on tag builds, and
    their meaning; None for other rules, disabled ones and per-build affixes."""
    shapes = _VERSION_SHAPES.get(rule.type)
    if shapes is None or rule.attrs.get("enable") == "false":
        return None
    prefix = rule.attrs.get("prefix", flavor.prefix)
    suffix = rule.attrs.get("suffix", flavor.suffix)
    pattern = rule.attrs.get("pattern", "{{version}}")
    try:
        if (_names(prefix) | _names(suffix)) & _PER_BUILD_NAMES:
            return None
        parts = [_literal_shape(_render(prefix, scope))]
        for part in _parse_template(pattern):
            parts.append(_literal_shape(part) if isinstance(part, str)
                         else shapes.get(part.name, ""))
        parts.append(_literal_shape(_render(suffix, scope)))
    except (_TemplateError, _Unknown):
        return None
    meaning = _LINE if not (_names(pattern) & _FULL_VERSION_NAMES) else _RELEASE
    return re.compile("".join(parts)), meaning


def _literal_shape(text: str) -> str:
    return re.escape(_replace_invalid(text))


_NOT_A_TAG = "not a tag event"  # the reason that starts _with_fetch_hint


def _with_fetch_hint(rule: TagRule, reason: str, context: Context) -> str:
    """Outside CI (where git alone names the ref) in a shallow clone, a rule that reads the
    git tag may be missing one that was simply not fetched: say how to fetch it. Under a
    CI, its variables name the ref and a local tag would change nothing."""
    reads_tag = rule.type in ("semver", "pep440", "match") or rule.attrs.get("event") == "tag"
    if not (context.provider == "local" and context.shallow and context.tag is None
            and reads_tag and reason.startswith(_NOT_A_TAG)):
        return reason
    return (f"{reason}; the clone is shallow, so a tag on this commit may not have been "
            f"fetched: {unshallow_fix(context.provider)}")


def _apply(rule: TagRule, flavor: Flavor, facts: _Facts, scope: _Scope) -> _Candidate | str:
    """The tag one rule gives, or why it gives none."""
    enable = rule.attrs.get("enable", "true")
    enabled = _render(enable, scope)
    if enabled not in _BOOLEANS:
        raise _TemplateError(f"enable '{enable}' gives '{enabled}', not true or false")
    if enabled == "false":
        return "disabled (enable=false)" if enable == "false" else f"disabled ({enable} is false)"
    outcome = _RULE_FUNCTIONS[rule.type](rule, facts, scope)
    if isinstance(outcome, str):
        return outcome
    return replace(outcome, value=_affix(outcome.value, rule, flavor, scope))


def _affix(value: str, rule: TagRule, flavor: Flavor, scope: _Scope) -> str:
    """metadata-action's setValue: the rule's prefix/suffix if written, else the flavor's."""
    prefix = rule.attrs.get("prefix", flavor.prefix)  # present but empty still wins
    suffix = rule.attrs.get("suffix", flavor.suffix)
    return f"{_render(prefix, scope)}{value}{_render(suffix, scope)}"


def _schedule(rule: TagRule, facts: _Facts, scope: _Scope) -> _Candidate | str:
    if "schedule" not in facts.context.event:
        return f"not a scheduled run (event is {facts.context.event})"
    return _Candidate(_render(rule.attrs.get("pattern", "nightly"), scope), _MOVING, False)


def _version_text(rule: TagRule, facts: _Facts, scope: _Scope) -> str | None:
    """The text a semver/pep440/match rule reads: its value=, else the git tag."""
    value = rule.attrs.get("value", "")
    if value:
        return _render(value, scope)
    return facts.tag


def _matched_version(rule: TagRule, text: str) -> str:
    """semver/pep440 match=: group 1 of the first match; the text as is if none."""
    pattern = rule.attrs.get("match", "")
    if not pattern:
        return text
    found = _search(_js_regex(pattern, slashes=False)[0], pattern, text)
    if found is None or len(found) < 2:
        return text
    return found[1] or ""


def _version_input(rule: TagRule, facts: _Facts, scope: _Scope) -> str | None:
    """What a semver or pep440 rule parses: its input after `match=`, `/` as `-`."""
    source = _version_text(rule, facts, scope)
    return None if source is None else _matched_version(rule, source).replace("/", "-")


def _no_input(facts: _Facts) -> str:
    return f"{_NOT_A_TAG} ({facts.where()}) and no value= given"


def _semver(rule: TagRule, facts: _Facts, scope: _Scope) -> _Candidate | str:
    text = _version_input(rule, facts, scope)
    if text is None:
        return _no_input(facts)
    version = _parse_semver(text)
    if version is None:
        return f"'{text}' is not a semver version"
    pattern = rule.attrs.get("pattern", "{{version}}")
    versions = _semver_scope(text, version)
    if version.prerelease:
        if not _is_raw_statement(pattern):
            pattern = "{{version}}"
        return _Candidate(_render(pattern, versions), _RELEASE, False,
                          f" (prerelease {text} is tagged with its full version only)")
    numbers = (version.major, version.minor, version.patch)
    return _Candidate(_render(pattern, versions), _version_meaning(pattern, versions), True,
                      line=_line_of(pattern, numbers))


def _pep440(rule: TagRule, facts: _Facts, scope: _Scope) -> _Candidate | str:
    text = _version_input(rule, facts, scope)
    if text is None:
        return _no_input(facts)
    version = _parse_pep440(text)
    if version is None:
        return f"'{text}' is not a PEP 440 version"
    pattern = rule.attrs.get("pattern", "{{version}}")
    if version.pre or version.post is not None or version.dev is not None:
        value = text if _is_raw_statement(pattern) else version.clean()
        return _Candidate(value, _RELEASE, False,
                          f" (pre, post or dev release {text} is tagged with its full "
                          "version only)")
    versions = _pep440_scope(text, version)
    numbers = (version.part(0), version.part(1), version.part(2))
    return _Candidate(_render(pattern, versions), _version_meaning(pattern, versions), True,
                      line=_line_of(pattern, numbers))


def _line_of(pattern: str, numbers: tuple[int, int, int]) -> tuple[int, ...]:
    """The leading version numbers a version line's pattern keeps: `{{major}}.{{minor}}`
    keeps two, `{{major}}` one, a pattern with neither (a fixed word) none."""
    names = _names(pattern)
    depth = 2 if "minor" in names else 1 if "major" in names else 0
    return numbers[:depth]


def _version_meaning(pattern: str, versions: _Scope) -> TagKind:
    """A pattern naming the full version gives a release tag; so does one that happens to
    give the full version here (`{{major}}.{{minor}}` of pep440 `1.2`). Else a version
    line."""
    if _names(pattern) & _FULL_VERSION_NAMES:
        return _RELEASE
    full = _render("{{version}}", versions)
    return _RELEASE if _render(pattern, versions) == full else _LINE


def _match(rule: TagRule, facts: _Facts, scope: _Scope) -> _Candidate | str:
    text = _version_text(rule, facts, scope)
    if text is None:
        return _no_input(facts)
    pattern = rule.attrs["pattern"]
    regex, global_flag = _js_regex(pattern, slashes=True)
    group = int(rule.attrs.get("group", "0"))
    # JavaScript's match() with /g lists whole matches, not groups
    groups = _search(regex, pattern, text, every=global_flag) or []
    if not groups:
        return f"pattern '{pattern}' does not match '{text}'"
    value = groups[group] if group < len(groups) else None
    if value is None:
        return f"group {group} of pattern '{pattern}' captures nothing in '{text}'"
    if _is_release_value(value, facts.tag):
        return _Candidate(value, _RELEASE, True)
    return _Candidate(value, _LINE, True, line=_match_line(value))


def _match_line(value: str) -> tuple[int, ...] | None:
    """A `type=match` version line's numbers when it names them (`1`, `v1.2`), else None."""
    numbers = value.removeprefix("v").split(".")
    if len(numbers) > 2 or not all(n.isascii() and n.isdigit() for n in numbers):
        return None
    return tuple(int(n) for n in numbers)


def _edge(rule: TagRule, facts: _Facts, scope: _Scope) -> _Candidate | str:
    if facts.branch is None:
        return f"not a branch event ({facts.where()})"
    target = rule.attrs.get("branch") or facts.context.default_branch
    if not target:
        return "the default branch is unknown; name the edge branch with branch="
    if facts.branch != target:
        return f"branch '{facts.branch}' is not the edge branch '{target}'"
    return _Candidate("edge", _MOVING, False)


def _ref(rule: TagRule, facts: _Facts, scope: _Scope) -> _Candidate | str:
    event = rule.attrs["event"]
    if event == "branch":
        if facts.branch is None:
            return f"not a branch event ({facts.where()})"
        return _Candidate(facts.branch, _MOVING, False)
    if event == "tag":
        if facts.tag is None:
            return f"{_NOT_A_TAG} ({facts.where()})"
        return _Candidate(facts.tag, _RELEASE, True)
    if facts.pr is None:
        return f"not a pull request ({facts.where()})"
    return _Candidate(facts.pr, _MOVING, False)


def _raw(rule: TagRule, facts: _Facts, scope: _Scope) -> _Candidate | str:
    # Every raw tag is a channel, `latest` too: `type=raw,value=latest,enable=
    # {{is_default_branch}}` follows the default branch, as in metadata-action.
    return _Candidate(_render(rule.attrs.get("value", ""), scope), _MOVING, False)


def _sha(rule: TagRule, facts: _Facts, scope: _Scope) -> _Candidate | str:
    sha = facts.context.sha
    if not sha:
        return "the commit sha is unknown"
    long = rule.attrs.get("format", "short") == "long"
    return _Candidate(sha if long else facts.context.short_sha, _RELEASE, False)


_RuleFunction = Callable[[TagRule, _Facts, _Scope], _Candidate | str]
_RULE_FUNCTIONS: Mapping[str, _RuleFunction] = {
    "schedule": _schedule,
    "semver": _semver,
    "pep440": _pep440,
    "match": _match,
    "edge": _edge,
    "ref": _ref,
    "raw": _raw,
    "sha": _sha,
}
_TYPE_CHECKS: Mapping[str, Callable[[dict[str, str]], list[str]]] = {
    "schedule": _check_schedule,
    "semver": _check_version(_SEMVER_NAMES),
    "pep440": _check_version(_PEP440_NAMES),
    "match": _check_match,
    "edge": _check_edge,
    "ref": _check_ref,
    "raw": _check_raw,
    "sha": _check_sha,
}


def version_shape(rule: TagRule, flavor: Flavor) -> tuple[re.Pattern[str], TagKind] | None:
    """The shape of the tags a semver/pep440 rule gives on tag builds (a regular
    expression over whole tags) and their kind, release or version line; None for other
    rules, disabled ones and those whose prefix or suffix depends on the build. Read by
    `dockyard prune` to classify tags it finds on a registry."""
    return _version_shape(rule, flavor, {})


def render_affix(text: str) -> str | None:
    """A prefix or suffix as it appears in tags, when it is the same on every build
    (no expressions); None when it depends on the build."""
    try:
        return _replace_invalid(_render(text, {}))
    except (_TemplateError, _Unknown):
        return None
