"""The pipeline: settings + context -> plan -> build -> publish -> webhooks -> result.

It never prints and never reads the environment: the CLI passes in what it needs and
renders what comes back. Expected failures end the run with a Result that says exactly
what landed where; only bugs escape as exceptions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from dockyard import publish, tagging, webhooks
from dockyard.context import Context
from dockyard.errors import DockyardError, InputError, WebhookError
from dockyard.labels import oci_labels
from dockyard.names import parse_image
from dockyard.publish import RegistryResult
from dockyard.registry import REVISION_LABEL
from dockyard.settings import Credentials, Settings

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class Builder(Protocol):
    """What the pipeline needs of a Docker engine (dockyard.engine.Engine)."""

    def build(self, build: Any, *, tags: Sequence[str], labels: Mapping[str, str],
              log: Log = ...) -> str: ...

    def push(self, repository: str, tag: str, credentials: Credentials | None,
             log: Log = ...) -> Any: ...

    def registry_credentials(self, host: str) -> Credentials | None: ...


@dataclass(frozen=True)
class Plan:
    version: str | None
    images: tuple[str, ...]
    tags: tuple[tagging.PlannedTag, ...]
    skipped: tuple[tagging.SkippedRule, ...]
    labels: Mapping[str, str]
    context: Context

    def references(self) -> list[str]:
        """Full references, image by image, each in tag priority order."""
        return [parse_image(image).reference(t.name) for image in self.images for t in self.tags]

    def to_dict(self) -> dict[str, Any]:
        explain: list[dict[str, Any]] = [
            {"tag": t.name, "rule": t.rule, "priority": t.priority, "floating": t.floating}
            for t in self.tags
        ]
        explain += [{"tag": None, "rule": s.rule, "reason": s.reason} for s in self.skipped]
        return {
            "version": self.version,
            "tags": self.references(),
            "labels": dict(self.labels),
            "context": self.context.to_dict(),
            "explain": explain,
        }


@dataclass(frozen=True)
class Result:
    plan: Plan
    status: str  # "success" or "failed"
    image_id: str | None = None
    registries: tuple[RegistryResult, ...] = ()
    webhooks: tuple[webhooks.Delivery, ...] = ()
    error: DockyardError | None = None
    timings: Mapping[str, float] = field(default_factory=dict)  # durations in seconds
    event: str | None = None  # build.succeeded, build.failed, push.succeeded, push.failed
    started_at: datetime | None = None
    finished_at: datetime | None = None  # build and push done, before the webhooks
    warnings: tuple[str, ...] = ()

    @property
    def digest(self) -> str | None:
        return next((r.digest for r in self.registries if r.digest), None)

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error else 0

    def to_dict(self) -> dict[str, Any]:
        """The release record: what `run --format json` prints and webhooks carry."""
        data = self.plan.to_dict()
        data.update({
            "event": self.event,
            "status": self.status,
            "error": str(self.error) if self.error else None,
            "image_id": self.image_id,
            "digest": self.digest,
            "registries": [r.to_dict() for r in self.registries],
            "webhooks": [d.to_dict() for d in self.webhooks],
            "timings": {"started_at": _utc(self.started_at),
                        "finished_at": _utc(self.finished_at),
                        **{k: round(v, 3) for k, v in self.timings.items()}},
            "warnings": list(self.warnings),
        })
        return data


def _utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def make_plan(settings: Settings, context: Context) -> Plan:
    """Version, tags and labels for this context. Pure."""
    tags = tagging.compute_tags(settings.tag_rules, settings.flavor, context)
    title = context.repository.rsplit("/", 1)[-1] if context.repository else None
    title = title or parse_image(settings.images[0]).path.rsplit("/", 1)[-1]
    labels = oci_labels(context, tags.version, title=title)
    labels.update(settings.labels)
    return Plan(version=tags.version, images=settings.images, tags=tags.tags,
                skipped=tags.skipped, labels=labels, context=context)


def run(settings: Settings, context: Context, engine: Builder, *, log: Log = _quiet,
        now: Callable[[], datetime] = _utc_now,
        clock: Callable[[], float] = time.monotonic,
        deliver: Callable[..., tuple[webhooks.Delivery, ...]] = webhooks.deliver_all,
        connect: publish.Connect | None = None,
        sleep: Callable[[float], None] = time.sleep) -> Result:
    """Build, tag, push and notify. Returns a Result; raises only on bugs."""
    plan = make_plan(settings, context)
    timings: dict[str, float] = {}
    image_id: str | None = None
    registries: tuple[RegistryResult, ...] = ()
    error: DockyardError | None = None
    start = clock()
    started_at = now()
    try:
        if not plan.tags:
            reasons = "; ".join(f"{s.rule}: {s.reason}" for s in plan.skipped) or "no rules"
            raise InputError(f"no tag rule produced a tag for this context ({reasons})",
                             hint="add a rule that always applies, such as `type=sha`, or "
                                  "run where a branch or tag is checked out")
        release = publish.Release(images=plan.images, tags=plan.tags, version=plan.version,
                                  revision=plan.labels.get(REVISION_LABEL))
        if settings.push:  # before the build: a wrong password should cost seconds
            problems = publish.preflight(settings, release, connect=connect, log=log,
                                         docker_login=engine.registry_credentials)
            if problems:
                registries = publish.preflight_results(release, problems)
                raise publish.preflight_error(problems)
        log(f"building {settings.build.context} ({settings.build.dockerfile})")
        image_id = engine.build(settings.build, tags=plan.references(), labels=plan.labels,
                                log=log)
        timings["build_seconds"] = clock() - start
        log(f"built {image_id}")
        if settings.push:
            push_start = clock()
            registries = publish.publish(settings, release, engine, log=log, connect=connect,
                                         sleep=sleep, docker_login=engine.registry_credentials)
            timings["push_seconds"] = clock() - push_start
            error = publish.summary(registries)
        else:
            registries = tuple(
                RegistryResult(name=image, status="not pushed",
                               skipped=tuple((t.name, "push is off") for t in plan.tags))
                for image in plan.images)
    except DockyardError as exc:
        error = exc
    event = _event(settings, image_id, registries, error)
    result = Result(plan=plan, status="failed" if error else "success", image_id=image_id,
                    registries=registries, error=error, timings=timings, event=event,
                    started_at=started_at, finished_at=now(),
                    warnings=tuple(webhooks.url_warnings(settings.webhooks)))
    if settings.webhooks:
        # The record as it stands is the payload: deliveries can't report on themselves.
        notify_start = clock()
        deliveries = deliver(settings.webhooks, result.to_dict(), event)
        timings["webhooks_seconds"] = clock() - notify_start
        failed_required = [d for d in deliveries if d.required and d.status != "delivered"]
        if failed_required and error is None:
            error = WebhookError("required webhook delivery failed: " + ", ".join(
                f"{d.host} ({d.error})" for d in failed_required),
                hint="check that the receiver is up, or set `required: false` on it")
        result = replace(result, status="failed" if error else "success",
                         webhooks=deliveries, error=error)
    timings["total_seconds"] = clock() - start
    return result


def _event(settings: Settings, image_id: str | None,
           registries: Sequence[RegistryResult], error: DockyardError | None) -> str:
    """The run's outcome as one event. A failure before the build that concerns a
    registry (a preflight) is a push failure: the build was fine, or never tried."""
    pushing = settings.push and (image_id is not None
                                 or any(r.status == "failed" for r in registries))
    if pushing:
        return "push.failed" if error else "push.succeeded"
    return "build.failed" if error else "build.succeeded"
