"""Which tags of one repository go, and which digests with them. Pure.

Every tag gets a verdict (keep or delete, and why, per rule). Then the digests: a digest
is deleted only when every tag on it goes and it is not *protected*: no kept tag names
it, and it is no platform image of an index a kept tag names (followed through nested
indexes). A tag to delete whose digest is protected goes alone, where the registry can
delete a tag by itself; elsewhere it stays, and the result says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from dockyard.prune.classify import Classified, Classifier, Family
from dockyard.retention import Keep, Retention
from dockyard.tagging import sanitize_tag

CREATED_LABEL = "org.opencontainers.image.created"


@dataclass(frozen=True)
class Image:
    """What one digest is, as far as prune reads it."""

    digest: str
    created: datetime | None = None
    created_from: str = "unknown"  # "label", "config" or "unknown"
    version: str | None = None  # its org.opencontainers.image.version
    children: tuple[str, ...] = ()  # an index's platform images


@dataclass(frozen=True)
class Listing:
    """A repository's complete tag list: each tag's digest, and each digest's image."""

    tags: Mapping[str, str]
    images: Mapping[str, Image]


@dataclass(frozen=True)
class Facts:
    """What prune knows beyond the registry: the clock, the branches, the open pull
    requests, the git tags (None: not known, and what depends on it is kept)."""

    now: datetime
    branches: frozenset[str] | None = None
    open_prs: frozenset[int] | None = None
    git_tags: frozenset[str] | None = None
    force: bool = False


@dataclass(frozen=True)
class Verdict:
    tag: str
    digest: str
    family: Family
    delete: bool
    reason: str
    rule: str | None = None  # the retention rule that decided
    forced: str | None = None  # what --force overrode
    created: datetime | None = None  # the image's age, as read
    created_from: str = "unknown"  # "label", "config" or "unknown"

    def to_dict(self) -> dict[str, object]:
        return {"tag": self.tag, "digest": self.digest, "family": self.family.value,
                "kind": self.family.kind.value if self.family.kind else None,
                "reason": self.reason, "rule": self.rule, "forced": self.forced,
                "created": self.created.isoformat() if self.created else None,
                "created_from": self.created_from}


@dataclass(frozen=True)
class Decision:
    verdicts: tuple[Verdict, ...]
    protected: frozenset[str]  # digests kept tags name, with their index children
    digests: tuple[str, ...]  # to delete, with every tag on them
    platform_images: tuple[str, ...]  # unprotected children of deleted indexes: go too
    tag_only: tuple[str, ...]  # tags to delete whose digest is protected

    @property
    def kept(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.delete]

    @property
    def deleted(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.delete]


def decide(listing: Listing, retention: Retention, classifier: Classifier,
           facts: Facts) -> Decision:
    """The verdicts and deletions for one repository."""
    classes = {tag: classifier.classify(tag, version_label=_image(listing, digest).version,
                                        git_tags=facts.git_tags)
               for tag, digest in listing.tags.items()}
    verdicts: dict[str, Verdict] = {}
    grouped: dict[str, list[str]] = {}  # count/age rule -> its tags
    rules: dict[str, tuple[Keep, str]] = {}
    for tag in sorted(listing.tags):
        found = classes[tag]
        digest = listing.tags[tag]
        pattern = retention.pattern_for(tag) if retention.configured else None
        forced = None
        if pattern is not None and found.family in (Family.RELEASE, Family.VERSION_LINE):
            if not facts.force:
                verdicts[tag] = _keep(tag, digest, found, f"{found.why}: always kept ("
                                      f"{pattern.where} matches it; only --force lets it)")
                continue
            forced = f"{found.family.value} tags are always kept"
        if pattern is not None:
            rules[pattern.where] = (pattern.keep, f"{pattern.where} ({pattern.match})")
            grouped.setdefault(pattern.where, []).append(tag)
            if forced:
                verdicts[tag] = Verdict(tag, digest, found.family, False, "", forced=forced)
            continue
        if found.family is Family.SHA and retention.sha.limited:
            rules["retention.sha"] = (retention.sha, "retention.sha")
            grouped.setdefault("retention.sha", []).append(tag)
            continue
        verdicts[tag] = _by_family(tag, digest, found, retention, facts)
    for where, tags in grouped.items():
        keep, label = rules[where]
        for tag, delete, reason in _by_count_and_age(tags, listing, keep, facts.now):
            forced = verdicts[tag].forced if tag in verdicts else None
            verdicts[tag] = Verdict(tag, listing.tags[tag], classes[tag].family,
                                    delete, reason, rule=label,
                                    forced=forced if delete else None)
    ordered = tuple(_dated(verdicts[tag], _image(listing, verdicts[tag].digest))
                    for tag in sorted(verdicts))
    return _deletions(ordered, listing)


def _dated(verdict: Verdict, image: Image) -> Verdict:
    return replace(verdict, created=image.created, created_from=image.created_from)


def _image(listing: Listing, digest: str) -> Image:
    return listing.images.get(digest) or Image(digest)


def _keep(tag: str, digest: str, found: Classified, reason: str,
          rule: str | None = None) -> Verdict:
    return Verdict(tag, digest, found.family, False, reason, rule=rule)


def _by_family(tag: str, digest: str, found: Classified, retention: Retention,
               facts: Facts) -> Verdict:
    family = found.family
    if not retention.configured:
        return _keep(tag, digest, found, "no retention: section")
    if family is Family.BRANCH and retention.branches == "existing":
        branch = found.subject or tag
        if facts.branches is None:
            return _keep(tag, digest, found, "a branch tag, kept: the branch list is unknown "
                         "(give --branches or DOCKYARD_BRANCHES, or a full clone)",
                         "retention.branches")
        if branch in {sanitize_tag(b) for b in facts.branches}:
            return _keep(tag, digest, found, f"branch {branch} exists", "retention.branches")
        return Verdict(tag, digest, family, True, f"branch {branch} no longer exists",
                       rule="retention.branches")
    if family is Family.PULL_REQUEST and retention.pull_requests == "open":
        subject = found.subject or ""
        number = int(subject) if subject.isascii() and subject.isdigit() else -1
        if facts.open_prs is None or number < 0:
            return _keep(tag, digest, found, "a pull request's tag, kept: the CI did not say "
                         "which pull requests are open (--open-prs or DOCKYARD_OPEN_PRS)",
                         "retention.pull_requests")
        if number in facts.open_prs:
            return _keep(tag, digest, found, f"pull request #{number} is open",
                         "retention.pull_requests")
        return Verdict(tag, digest, family, True, f"pull request #{number} is closed",
                       rule="retention.pull_requests")
    if family in (Family.RELEASE, Family.VERSION_LINE):
        return _keep(tag, digest, found, f"{found.why}: always kept")
    if family is Family.UNKNOWN:
        return _keep(tag, digest, found, f"{found.why}: an unknown tag is kept")
    return _keep(tag, digest, found, f"{found.why}: no retention rule deletes it")


def _by_count_and_age(tags: Iterable[str], listing: Listing, keep: Keep,
                      now: datetime) -> list[tuple[str, bool, str]]:
    """Newest first; keep the first `keep.last`, and every one younger than `keep.days`.
    A tag of unknown age is kept, and takes none of the `keep.last` places."""
    def created(tag: str) -> datetime | None:
        return _image(listing, listing.tags[tag]).created

    def order(tag: str) -> tuple[int, float, str]:
        when = created(tag)
        return (0, 0.0, tag) if when is None else (1, -when.timestamp(), tag)

    out = []
    rank = -1
    for tag in sorted(tags, key=order):
        when = created(tag)
        if when is None:
            out.append((tag, False, "its age is unknown (no created label or config date): "
                                    "kept"))
            continue
        rank += 1
        age = now - when
        if keep.last is not None and rank < keep.last:
            out.append((tag, False, f"one of the newest {keep.last}"))
        elif keep.days is not None and age < timedelta(days=keep.days):
            out.append((tag, False, f"younger than {keep.days:g} days ({_days(age)})"))
        elif keep.last is None and keep.days is None:
            out.append((tag, False, "no limit"))
        else:
            beyond = [f"not among the newest {keep.last}"] if keep.last is not None else []
            if keep.days is not None:
                beyond.append(f"{_days(age)} old")
            out.append((tag, True, ", ".join(beyond)))
    return out


def _days(age: timedelta) -> str:
    return f"{age.total_seconds() / 86400:.1f} days"


def protected_digests(kept: Iterable[str], listing: Listing) -> frozenset[str]:
    """The digests `kept` name, and every image their indexes list, at any depth."""
    seen: set[str] = set()
    pending = list(kept)
    while pending:
        digest = pending.pop()
        if digest in seen:
            continue
        seen.add(digest)
        pending += _image(listing, digest).children
    return frozenset(seen)


def _deletions(verdicts: tuple[Verdict, ...], listing: Listing) -> Decision:
    protected = protected_digests((v.digest for v in verdicts if not v.delete), listing)
    going: dict[str, list[str]] = {}
    for verdict in verdicts:
        if verdict.delete:
            going.setdefault(verdict.digest, []).append(verdict.tag)
    digests = tuple(d for d in going if d not in protected)
    tag_only = tuple(v.tag for v in verdicts if v.delete and v.digest in protected)
    tagged = set(listing.tags.values())
    platform = protected_digests(digests, listing) - protected - set(digests) - tagged
    return Decision(verdicts, protected, digests, tuple(sorted(platform)), tag_only)
