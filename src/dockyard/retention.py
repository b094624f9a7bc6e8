"""`retention:` in dockyard.yml: which tags `dockyard prune` keeps. Parsed and checked
once into a frozen `Retention`; `schema` holds its JSON Schema beside the others.

Release tags (a version, the git tag) are always kept: nothing here can configure them
away; only `dockyard prune --force` lets a pattern reach them, and says so.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BRANCH_MODES = ("all", "existing")  # retention.branches
PR_MODES = ("all", "open")  # retention.pull_requests
MAX_KEEP_LAST = 1_000_000
MAX_KEEP_DAYS = 36_500.0  # a hundred years


@dataclass(frozen=True)
class Keep:
    """Keep the newest `last` tags, and every tag younger than `days`; None: no limit of
    that sort. With both None nothing is deleted."""

    last: int | None = None
    days: float | None = None

    @property
    def limited(self) -> bool:
        return self.last is not None or self.days is not None

    def describe(self) -> str:
        parts = []
        if self.last is not None:
            parts.append(f"the newest {self.last}")
        if self.days is not None:
            parts.append(f"those younger than {self.days:g} days")
        return " and ".join(parts) if parts else "all"


@dataclass(frozen=True)
class PatternRule:
    """Tags matching a glob (`nightly-*`), kept by count and age."""

    match: str
    keep: Keep
    where: str  # retention.patterns[i], for messages

    def matches(self, tag: str) -> bool:
        return fnmatch.fnmatchcase(tag, self.match)


@dataclass(frozen=True)
class Retention:
    configured: bool = False  # dockyard.yml has a retention: section
    sha: Keep = Keep()  # type=sha tags
    branches: str = "all"  # "existing": branch tags of deleted branches go
    pull_requests: str = "all"  # "open": pr-N tags of closed pull requests go
    patterns: tuple[PatternRule, ...] = ()

    def pattern_for(self, tag: str) -> PatternRule | None:
        return next((rule for rule in self.patterns if rule.matches(tag)), None)

    def summary(self) -> list[str]:
        """One line per rule, for `dockyard plan` and the prune record."""
        if not self.configured:
            return ["no retention: section: `dockyard prune` keeps every tag"]
        lines = ["release tags and version lines: always kept"]
        lines.append(f"sha tags: keep {self.sha.describe()}")
        lines.append("branch tags: keep " + ("those of branches that still exist"
                                            if self.branches == "existing" else "all"))
        lines.append("pull request tags: keep " + ("those of open pull requests"
                                                  if self.pull_requests == "open" else "all"))
        lines += [f"tags matching {rule.match}: keep {rule.keep.describe()}"
                  for rule in self.patterns]
        lines.append("any other tag: kept")
        return lines

    def to_dict(self) -> dict[str, Any]:
        def keep(value: Keep) -> dict[str, Any]:
            return {"keep_last": value.last, "keep_days": value.days}

        return {"configured": self.configured, "sha": keep(self.sha),
                "branches": self.branches, "pull_requests": self.pull_requests,
                "patterns": [{"match": r.match, **keep(r.keep)} for r in self.patterns]}


_KEEP_PROPERTIES = {
    "keep_last": {"description": "Keep the newest N of these tags (by the image's creation "
                  "time).", "type": "integer"},
    "keep_days": {"description": "Keep those created less than D days ago.",
                  "type": "number"},
}

RETENTION_SCHEMA: dict[str, Any] = {
    "description": "Which tags `dockyard prune` keeps (docs/retention.md). Release tags are "
    "always kept; a tag prune cannot classify is kept.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sha": {"description": "`type=sha` tags: keep the newest `keep_last` and those "
                "younger than `keep_days`; without either, all.",
                "type": "object", "additionalProperties": False,
                "properties": _KEEP_PROPERTIES},
        "branches": {"description": "Branch tags (`type=ref,event=branch`): `all` (default) "
                     "or `existing` (delete the tags of branches that no longer exist).",
                     "type": "string"},
        "pull_requests": {"description": "Pull request tags (`type=ref,event=pr`): `all` "
                          "(default) or `open` (delete those of closed pull requests; the CI "
                          "names the open ones with `--open-prs` or DOCKYARD_OPEN_PRS).",
                          "type": "string"},
        "patterns": {"description": "Tags matching a glob (the first pattern that matches "
                     "decides), kept by count and age; release tags and version lines only "
                     "with `dockyard prune --force`.",
                     "type": "array",
                     "items": {"type": "object", "additionalProperties": False,
                               "required": ["match"],
                               "properties": {"match": {"description": "A glob (`nightly-*`).",
                                                        "type": "string", "minLength": 1},
                                              **_KEEP_PROPERTIES}}},
    },
}


def parse_retention(raw: object, problems: list[tuple[str, str]]) -> Retention:
    """`retention:` as the schema let it through; adds what the schema cannot check."""
    if not isinstance(raw, Mapping):
        return Retention()
    sha = _keep(raw.get("sha"), "retention.sha", problems)
    branches = _mode(raw, "branches", BRANCH_MODES, problems)
    pull_requests = _mode(raw, "pull_requests", PR_MODES, problems)
    patterns = []
    for index, entry in enumerate(raw.get("patterns") or ()):
        where = f"retention.patterns[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("match"), str):
            continue  # refused by the schema
        keep = _keep(entry, where, problems)
        if not keep.limited:
            problems.append((where, f"'{entry['match']}' needs keep_last or keep_days (or "
                             "both): without either it would keep every tag it matches"))
        patterns.append(PatternRule(entry["match"], keep, where))
    return Retention(configured=True, sha=sha, branches=branches,
                     pull_requests=pull_requests, patterns=tuple(patterns))


def _mode(raw: Mapping[str, Any], key: str, modes: Sequence[str],
          problems: list[tuple[str, str]]) -> str:
    value = raw.get(key)
    if value is None:
        return modes[0]
    if value not in modes:
        problems.append((f"retention.{key}", f"must be {' or '.join(modes)}, not '{value}'"))
        return modes[0]
    return str(value)


def _keep(raw: object, where: str, problems: list[tuple[str, str]]) -> Keep:
    if not isinstance(raw, Mapping):
        return Keep()
    last, days = raw.get("keep_last"), raw.get("keep_days")
    if isinstance(last, int) and not 0 <= last <= MAX_KEEP_LAST:
        problems.append((f"{where}.keep_last", f"must be a whole number from 0 to "
                         f"{MAX_KEEP_LAST:,}, not {last}"))
        last = None
    if isinstance(days, int | float) and not 0 < days <= MAX_KEEP_DAYS:  # false for nan
        problems.append((f"{where}.keep_days", f"must be more than 0 and at most "
                         f"{MAX_KEEP_DAYS:g} days, not {days}"))
        days = None
    return Keep(last if isinstance(last, int) else None,
                float(days) if isinstance(days, int | float) else None)
