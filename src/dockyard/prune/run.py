"""`dockyard prune`: for every configured image on every registry, list, decide, and
(with `apply`) delete. A registry that does not answer or lists incompletely is skipped
whole; the typed result lists every deletion with its digest, so that a mistake can be
restored with `dockyard promote` from another registry."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import DockyardError, InputError
from dockyard.names import parse_image
from dockyard.prune.classify import Classifier, Family
from dockyard.prune.decide import Decision, Facts, Listing, decide
from dockyard.prune.deleters import Apis, Deleter, Login, deleter_for
from dockyard.prune.listing import Log, read_listing, recheck
from dockyard.publish.connect import (
    Connect,
    DockerLogin,
    Sleep,
    connector,
    credentials,
    quiet,
    retry_policy,
)
from dockyard.registry import RegistryError
from dockyard.settings import Credentials, Settings

PLANNED, PRUNED, SKIPPED, PARTIAL = "planned", "pruned", "skipped", "partial"
_STILL = (Family.RELEASE, Family.SHA)  # release kinds: never rewritten, so never re-read


@dataclass(frozen=True)
class Deletion:
    """One DELETE: an image with the tags on it, a tag alone, or an index's platform
    image; with the command that puts it back."""

    digest: str
    tags: tuple[str, ...]
    how: str  # "image" (the digest and its tags), "tag" (the tag alone), "platform image"
    restore: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "tags": list(self.tags), "how": self.how,
                "restore": self.restore}


@dataclass(frozen=True)
class RepositoryPrune:
    name: str  # the image name as configured
    status: str  # planned, pruned, skipped or partial
    api: str | None = None
    decision: Decision | None = None
    deleted: tuple[Deletion, ...] = ()
    left: tuple[tuple[str, str], ...] = ()  # (tag to delete that stayed, why)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        decision = self.decision
        return {
            "name": self.name,
            "status": self.status,
            "api": self.api,
            "tags": len(decision.verdicts) if decision else 0,
            "delete": [v.to_dict() for v in decision.deleted] if decision else [],
            "kept": [v.to_dict() for v in decision.kept] if decision else [],
            "platform_images": list(decision.platform_images) if decision else [],
            "tag_only": list(decision.tag_only) if decision else [],
            "forced": [{"tag": v.tag, "overrode": v.forced}
                       for v in (decision.deleted if decision else ()) if v.forced],
            "deleted": [d.to_dict() for d in self.deleted],
            "left": [{"tag": tag, "reason": reason} for tag, reason in self.left],
            "error": self.error,
        }


@dataclass(frozen=True)
class PruneResult:
    applied: bool
    force: bool
    retention: list[str]  # the policy, one line a rule
    repositories: tuple[RepositoryPrune, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        return 1 if any(r.status in (SKIPPED, PARTIAL) for r in self.repositories) else 0

    def to_dict(self) -> dict[str, Any]:
        return {"command": "prune", "status": "success" if self.exit_code == 0 else "failed",
                "applied": self.applied, "force": self.force, "retention": self.retention,
                "repositories": [r.to_dict() for r in self.repositories]}


def prune(settings: Settings, facts: Facts, *, apply: bool = False, log: Log = quiet,
          connect: Connect | None = None, sleep: Sleep = time.sleep,
          docker_login: DockerLogin | None = None,
          apis: Apis | None = None, only: Sequence[str] = ()) -> PruneResult:
    """Prune every configured image, or those in `only` (dry run unless `apply`).
    `apis`: where a hosted registry's own API lives when not at its default (GHCR on
    GitHub Enterprise, GitLab's CI_API_V4_URL), and GitLab CI's job token."""
    unknown = [i for i in only if i not in settings.images]
    if unknown:
        raise InputError(f"--image {unknown[0]} is not one of the configured images",
                         hint="choose from: " + ", ".join(settings.images))
    connect = connect or connector(settings, sleep)
    policy = retry_policy(settings)
    classifier = Classifier(settings.tag_rules, settings.flavor)
    results = []
    for image in (i for i in settings.images if not only or i in only):
        name = parse_image(image)
        others = [i for i in settings.images if i != image]
        try:
            login = credentials(settings, image, docker_login)
            with connect(name.host, login) as client, closing(deleter_for(
                    name.host, client, login=_login(login), apis=apis or Apis(), policy=policy,
                    sleep=sleep)) as deleter:
                listing = read_listing(client, name.path, log)
                decision = decide(listing, settings.retention, classifier, facts)
                if not apply:
                    results.append(RepositoryPrune(image, PLANNED, deleter.api, decision))
                    continue
                if decision.deleted:
                    recheck(client, name.path, listing, [
                        v.tag for v in decision.kept if v.family not in _STILL])
                results.append(apply_decision(image, name.path, deleter, listing,
                                              decision, others, log))
        except DockyardError as exc:
            log(f"{image}: skipped: {exc}")
            results.append(RepositoryPrune(image, SKIPPED, error=str(exc)))
    return PruneResult(applied=apply, force=facts.force,
                       retention=settings.retention.summary(), repositories=tuple(results))


def _login(found: Credentials | None) -> Login:
    if found is None:
        return Login()
    return Login(found.username, found.password.reveal(),
                 found.api_token.reveal() if found.api_token else None)


def apply_decision(image: str, path: str, deleter: Deleter, listing: Listing,
                   decision: Decision, others: Sequence[str], log: Log) -> RepositoryPrune:
    """Delete what `decision` says: tags alone on kept images first, then images, then
    the platform images of deleted indexes. A failure stops this repository there."""
    deleted: list[Deletion] = []
    left: list[tuple[str, str]] = []
    keeper = {v.digest: v.tag for v in decision.kept}
    tags_on: dict[str, list[str]] = {}
    for verdict in decision.deleted:
        tags_on.setdefault(verdict.digest, []).append(verdict.tag)

    def restore(digest: str, tags: Sequence[str]) -> str | None:
        if not others or not tags:
            return None
        return f"dockyard promote {others[0]}@{digest} " + " ".join(
            parse_image(image).reference(t) for t in tags)

    try:
        for tag in decision.tag_only:
            digest = listing.tags[tag]
            if deleter.delete_tag(path, tag):
                log(f"{image}: deleted the tag {tag} (its image stays)")
                deleted.append(Deletion(digest, (tag,), "tag", restore(digest, (tag,))))
            else:
                holder = keeper.get(digest)
                why = (f"kept tag {holder} names its image" if holder
                       else "a kept index lists its image")
                left.append((tag, f"{why}, and this registry deletes a tag only with its "
                                  "image"))
        for digest in decision.digests:
            tags = tuple(tags_on.get(digest, ()))
            if not deleter.delete_digest(path, digest, tags):
                log(f"{image}: {digest[:19]} ({', '.join(tags)}) was gone already")
                continue
            log(f"{image}: deleted {digest[:19]} ({', '.join(tags)})")
            deleted.append(Deletion(digest, tags, "image", restore(digest, tags)))
        for digest in decision.platform_images:
            if deleter.delete_digest(path, digest, ()):
                deleted.append(Deletion(digest, (), "platform image"))
    except RegistryError as exc:
        log(f"{image}: stopped: {exc}")
        status = PARTIAL if deleted else SKIPPED
        return RepositoryPrune(image, status, deleter.api, decision, tuple(deleted),
                               tuple(left), str(exc))
    return RepositoryPrune(image, PRUNED, deleter.api, decision, tuple(deleted), tuple(left))
