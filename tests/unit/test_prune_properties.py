"""Prune's guarantees as properties, over random histories and policies, applied to an
in-memory registry that deletes as CNCF distribution does (an image with every tag on
it; a tag alone only where the model says the registry can):

1. every tag prune keeps still names the same image, and that image and every platform
   image of it (through nested indexes) is still there;
2. no release tag or version line goes without --force, and each one that goes with it
   is listed as forced;
3. a second prune of what is left deletes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.prune import Classifier, Facts, Family, Image, Listing, decide
from dockyard.prune.run import apply_decision
from dockyard.retention import Keep, PatternRule, Retention
from dockyard.tagging import parse_flavor, parse_rules

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
RULES = parse_rules(["type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}",
                     "type=ref,event=branch", "type=ref,event=pr", "type=sha",
                     "type=raw,value=stable"])
CLASSIFIER = Classifier(RULES, parse_flavor(["latest=auto"]))
BRANCHES = ("main", "dev", "feature-a", "feature-b")


@dataclass
class Model:
    """One repository: images by digest, tags."""

    images: dict[str, Image]
    tags: dict[str, str]
    tag_delete: bool
    deleted: list[str] = field(default_factory=list)
    api: str = "model"

    def delete_digest(self, path: str, digest: str, tags: Sequence[str]) -> bool:
        if digest not in self.images:
            return False
        del self.images[digest]
        self.tags = {t: d for t, d in self.tags.items() if d != digest}
        self.deleted.append(digest)
        return True

    def delete_tag(self, path: str, tag: str) -> bool:
        if not self.tag_delete:
            return False
        self.tags.pop(tag, None)
        return True

    def listing(self) -> Listing:
        return Listing(dict(self.tags), dict(self.images))


def _image(draw: st.DrawFn, number: int, version: str, children: tuple[str, ...] = ()
           ) -> Image:
    days = draw(st.one_of(st.none(), st.floats(0, 400)))
    created = None if days is None else NOW - timedelta(days=days)
    return Image(f"sha256:{number:064x}", created, "label" if created else "unknown",
                 version, children)


@st.composite
def histories(draw: st.DrawFn) -> Model:
    images: dict[str, Image] = {}
    tags: dict[str, str] = {}
    count = draw(st.integers(1, 14))
    for number in range(count):
        kind = draw(st.sampled_from(("release", "branch", "pr", "merge", "hand")))
        major, minor, patch = (draw(st.integers(0, 2)) for _ in range(3))
        version = {"release": f"{major}.{minor}.{patch}", "merge": f"{major}.{minor}.{patch}",
                   "branch": draw(st.sampled_from(BRANCHES)), "pr": f"pr-{number}",
                   "hand": ""}[kind]
        children: tuple[str, ...] = ()
        if kind == "merge":
            platform = [_image(draw, 1000 + number * 4 + i, version) for i in range(2)]
            images.update((p.digest, p) for p in platform)
            children = tuple(p.digest for p in platform)
        image = _image(draw, number, version, children)
        images[image.digest] = image
        names = {"release": [version, f"{major}.{minor}"], "merge": [version],
                 "branch": [version], "pr": [version], "hand": ["stable", "hand-pushed"]}[kind]
        names.append(f"sha-{number:07x}")
        for name in names:
            if draw(st.booleans()) or name == version:
                tags[name] = image.digest  # a later build moves a tag it gives again
        if children and draw(st.booleans()):  # a pull request's tag on a platform image
            tags[f"pr-{number + 100}"] = children[0]
    return Model(images, tags, tag_delete=draw(st.booleans()))


def _keep(draw: st.DrawFn) -> Keep:
    return Keep(draw(st.one_of(st.none(), st.integers(0, 4))),
                draw(st.one_of(st.none(), st.floats(1, 300))))


@st.composite
def policies(draw: st.DrawFn) -> tuple[Retention, Facts]:
    patterns = tuple(PatternRule(glob, Keep(draw(st.integers(0, 3)), None), f"p[{i}]")
                     for i, glob in enumerate(draw(st.lists(
                         st.sampled_from(("*", "pr-*", "1.*", "sha-*", "stable", "dev")),
                         max_size=2))))
    retention = Retention(configured=True, sha=_keep(draw),
                          branches=draw(st.sampled_from(("all", "existing"))),
                          pull_requests=draw(st.sampled_from(("all", "open"))),
                          patterns=patterns)
    facts = Facts(now=NOW,
                  branches=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(BRANCHES)))),
                  open_prs=draw(st.one_of(st.none(), st.frozensets(st.integers(0, 120)))),
                  force=draw(st.booleans()))
    return retention, facts


def _reachable(model: Model, digest: str) -> bool:
    image = model.images.get(digest)
    return image is not None and all(_reachable(model, child) for child in image.children)


@settings(max_examples=300, deadline=None)
@given(histories(), policies())
def test_no_kept_tag_loses_its_image_or_a_platform_image(
        model: Model, policy: tuple[Retention, Facts]) -> None:
    retention, facts = policy
    decision = decide(model.listing(), retention, CLASSIFIER, facts)
    before = dict(model.tags)
    apply_decision("host/app", "app", model, model.listing(), decision, [], lambda _: None)
    for verdict in decision.kept:
        assert model.tags.get(verdict.tag) == before[verdict.tag], verdict
        assert _reachable(model, verdict.digest), verdict
    for verdict in decision.deleted:
        if verdict.family in (Family.RELEASE, Family.VERSION_LINE):
            assert facts.force and verdict.forced, verdict

    again = decide(model.listing(), retention, CLASSIFIER, facts)
    left = set(model.tags)
    result = apply_decision("host/app", "app", model, model.listing(), again, [],
                            lambda _: None)
    assert result.deleted == () and set(model.tags) == left
