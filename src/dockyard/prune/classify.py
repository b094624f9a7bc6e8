"""What a tag found on a registry is, read back from the configured tag rules. Pure.

The tags on a registry are not planned tags: nothing stored says which rule gave them.
They are classified by the shapes the configured rules give (the same `tagging` code
that decides a planned tag's kind), with two pieces of evidence beside them: the git
tags the checkout knows, and the image's version label. Where the shapes disagree, the
reading that keeps more wins; a tag no rule could give is `UNKNOWN`, and kept.

1. A name that is one of the checkout's git tags, with `type=ref,event=tag` configured,
   or that equals its image's `org.opencontainers.image.version` label when that label
   is a version, is a release.
2. Exact shapes: a semver/pep440 rule's tags (release or version line, as tagging
   decides), `sha-<hex>`, `pr-<number>`, raw words, `edge`, the schedule's word and the
   flavor's `latest`. When several match, release > version line > channel > sha > pull
   request.
3. Shapes that take any text: `type=ref,event=tag` and `type=match` (a release, unless
   the checkout's tags are known and the name is not one of them, for the former),
   raw values with expressions (a channel), and last `type=ref,event=branch`: a branch
   tag only when its image's version label names it (a branch build's version is its
   first tag, the branch's), else unknown: a tag pushed by hand is not taken for the
   tag of a deleted branch.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dockyard import versions
from dockyard.tagging import (
    Flavor,
    TagKind,
    TagRule,
    default_rules,
    render_affix,
    sanitize_tag,
    version_shape,
)


class Family(enum.Enum):
    """What retention acts on: a tag kind, split where retention treats parts apart."""

    RELEASE = "release"  # a version or the git tag: always kept
    SHA = "sha"  # type=sha: a release kind, one per commit, pruned by retention.sha
    VERSION_LINE = "version-line"  # 1, 1.2, latest: always kept
    CHANNEL = "channel"  # raw words, edge, schedule
    BRANCH = "branch"
    PULL_REQUEST = "pull-request"
    UNKNOWN = "unknown"  # no configured rule gives it: kept

    @property
    def kind(self) -> TagKind | None:
        return _KINDS.get(self)


_KINDS = {Family.RELEASE: TagKind.RELEASE, Family.SHA: TagKind.RELEASE,
          Family.VERSION_LINE: TagKind.VERSION_LINE, Family.CHANNEL: TagKind.CHANNEL,
          Family.BRANCH: TagKind.CHANNEL, Family.PULL_REQUEST: TagKind.CHANNEL}
# Among exact shapes, the reading that keeps more wins.
_PRECEDENCE = (Family.RELEASE, Family.VERSION_LINE, Family.CHANNEL, Family.SHA,
               Family.PULL_REQUEST)

# Among shapes that take any text: a possible release first, a branch last.
_OPEN_ORDER = (Family.RELEASE, Family.CHANNEL, Family.BRANCH)


@dataclass(frozen=True)
class Classified:
    family: Family
    rule: str | None  # the rule (or evidence) that decided it
    why: str
    subject: str | None = None  # a branch tag's branch part, a pull request's number


@dataclass(frozen=True)
class _Shape:
    regex: re.Pattern[str]
    family: Family
    rule: str


class Classifier:
    """The shapes of one configuration's rules, matched against tag names."""

    def __init__(self, rules: Sequence[TagRule] | None, flavor: Flavor) -> None:
        self.exact: list[_Shape] = []
        self.open: list[_Shape] = []  # shapes that take any text
        self.reads_git_tag = False
        for rule in rules if rules else default_rules():
            if rule.attrs.get("enable") != "false":
                self._add(rule, flavor)
        if flavor.latest != "false":
            prefix = flavor.prefix if flavor.prefix_onlatest else ""
            suffix = flavor.suffix if flavor.suffix_onlatest else ""
            word = _affixed("latest", render_affix(prefix), render_affix(suffix))
            if word is not None:
                self.exact.append(_Shape(word, Family.VERSION_LINE,
                                         f"flavor latest={flavor.latest}"))

    def _add(self, rule: TagRule, flavor: Flavor) -> None:
        prefix = render_affix(rule.attrs.get("prefix", flavor.prefix))
        suffix = render_affix(rule.attrs.get("suffix", flavor.suffix))
        source = rule.source
        if rule.type in ("semver", "pep440"):
            shape = version_shape(rule, flavor)
            if shape is not None:
                regex, kind = shape
                family = Family.RELEASE if kind is TagKind.RELEASE else Family.VERSION_LINE
                self.exact.append(_Shape(regex, family, source))
            else:  # a per-build prefix: any text could be one
                self.open.append(_Shape(re.compile(".+", re.S), Family.RELEASE, source))
            return
        if rule.type == "match":
            self.open.append(_Shape(re.compile(".+", re.S), Family.RELEASE, source))
            return
        if rule.type == "sha":
            digits = "[0-9a-f]{40}|[0-9a-f]{64}" if rule.attrs.get("format") == "long" \
                else "[0-9a-f]{7,12}"
            self._shape(f"(?:{digits})", prefix, suffix, Family.SHA, source)
            return
        if rule.type == "ref":
            event = rule.attrs.get("event")
            if event == "pr":
                self._shape("([0-9]+)", prefix, suffix, Family.PULL_REQUEST, source)
            elif event == "branch":
                self._shape("(.+)", prefix, suffix, Family.BRANCH, source, open_=True)
            else:
                self.reads_git_tag = True
                self._shape("(.+)", prefix, suffix, Family.RELEASE, source, open_=True)
            return
        if rule.type == "edge":
            self._shape("edge", prefix, suffix, Family.CHANNEL, source)
            return
        value = rule.attrs.get("value", "") if rule.type == "raw" \
            else rule.attrs.get("pattern", "nightly")
        word = render_affix(value)
        if word is not None:
            self._shape(re.escape(word), prefix, suffix, Family.CHANNEL, source)
        else:
            self._shape(".+", prefix, suffix, Family.CHANNEL, source, open_=True)

    def _shape(self, body: str, prefix: str | None, suffix: str | None, family: Family,
               rule: str, *, open_: bool = False) -> None:
        if prefix is None or suffix is None:  # per-build affixes: any text could be one
            body, prefix, suffix, open_ = "(.+)", "", "", True
        regex = re.compile(re.escape(prefix) + body + re.escape(suffix), re.S)
        (self.open if open_ else self.exact).append(_Shape(regex, family, rule))

    def classify(self, name: str, *, version_label: str | None = None,
                 git_tags: Iterable[str] | None = None) -> Classified:
        """What `name` is. `git_tags`: the checkout's tag names (None: not known);
        `version_label`: the version its image says it is."""
        known_tags = None if git_tags is None else {sanitize_tag(t) for t in git_tags}
        if self.reads_git_tag and known_tags is not None and name in known_tags:
            return Classified(Family.RELEASE, "type=ref,event=tag",
                              "a git tag of this repository (type=ref,event=tag)")
        if version_label and sanitize_tag(version_label) == name \
                and versions.parse(version_label, partial=False) is not None:
            return Classified(Family.RELEASE, "version label",
                              f"its image's version label is {version_label}")
        found = [(s, m) for s in self.exact if (m := s.regex.fullmatch(name))]
        if found:
            shape, match = min(found, key=lambda f: _PRECEDENCE.index(f[0].family))
            subject = match.group(1) if shape.family is Family.PULL_REQUEST else None
            return Classified(shape.family, shape.rule, _WHY[shape.family], subject)
        for shape in sorted(self.open, key=lambda s: _OPEN_ORDER.index(s.family)):
            opened = shape.regex.fullmatch(name)
            if opened is None:
                continue
            if shape.family is Family.RELEASE:
                if shape.rule.startswith("type=ref") and known_tags is not None:
                    continue  # the checkout's tags are known, and this is none of them
                return Classified(Family.RELEASE, shape.rule,
                                  f"'{shape.rule}' may have given it (a release): "
                                  "an ambiguous tag is kept")
            if shape.family is Family.BRANCH and version_label != name:
                # Any text has a branch tag's shape; a branch build's image names its
                # branch tag as its version (the first tag of its plan).
                return Classified(Family.UNKNOWN, None, "shaped like a branch tag, but its "
                                  f"image's version label ({version_label or 'none'}) does "
                                  "not name it")
            subject = opened.group(1) if shape.family is Family.BRANCH else None
            return Classified(shape.family, shape.rule, _WHY[shape.family], subject)
        return Classified(Family.UNKNOWN, None, "no configured rule gives a tag like it")


_WHY = {
    Family.RELEASE: "a release tag",
    Family.SHA: "a commit's tag (type=sha)",
    Family.VERSION_LINE: "a version line",
    Family.CHANNEL: "a channel",
    Family.BRANCH: "a branch tag",
    Family.PULL_REQUEST: "a pull request's tag",
}


def _affixed(word: str, prefix: str | None, suffix: str | None) -> re.Pattern[str] | None:
    if prefix is None or suffix is None:
        return None
    return re.compile(re.escape(prefix + word + suffix))
