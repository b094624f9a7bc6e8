"""The pipeline: settings + context -> plan -> build -> publish -> webhooks -> result.

`Plan` and `make_plan` live in `dockyard.plan` (re-exported here), so `dockyard plan`
loads neither docker-py nor the HTTP stack.

It never prints and never reads the environment: the CLI passes in what it needs and
renders what comes back. Expected failures end the run with a Result that says exactly
what landed where; only bugs escape as exceptions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from dockyard import buildinputs, imagescan, publish, webhooks
from dockyard.context import Context
from dockyard.emptyplan import why_no_tags
from dockyard.errors import ConfigError, DockyardError, InputError, WebhookError
from dockyard.names import parse_image
from dockyard.plan import Plan, make_plan
from dockyard.publish import RegistryResult
from dockyard.registry import RegistryClient
from dockyard.settings import Credentials, Settings

__all__ = ["Builder", "Plan", "RegistryResult", "Result", "make_plan", "run"]

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class Builder(Protocol):
    """What the pipeline needs of a Docker engine (dockyard.engine.Engine)."""

    def build(self, build: Any, *, tags: Sequence[str], labels: Mapping[str, str],
              log: Log = ...) -> str: ...

    def push(self, repository: str, tag: str, credentials: Credentials | None) -> Any: ...

    def tag(self, image_id: str, reference: str) -> None: ...

    def registry_credentials(self, host: str) -> Credentials | None: ...

    def scan(self, image_id: str, found: imagescan.Needles) -> imagescan.ScanReport: ...


@dataclass(frozen=True)
class Result:
    plan: Plan
    status: str  # "success" or "failed"
    image_id: str | None = None  # what this run built
    registries: tuple[RegistryResult, ...] = ()
    # The image the release is: an earlier build's when a re-run found it published.
    published_image_id: str | None = None
    webhooks: tuple[webhooks.Delivery, ...] = ()
    error: DockyardError | None = None
    timings: Mapping[str, float] = field(default_factory=dict)  # durations in seconds
    event: str | None = None  # build.succeeded, build.failed, push.succeeded, push.failed
    started_at: datetime | None = None
    finished_at: datetime | None = None  # build and push done, before the webhooks
    warnings: tuple[str, ...] = ()
    backend: Mapping[str, Any] | None = None  # which builder built and why, as `plan` says

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
            "image_id": self.published_image_id or self.image_id,
            "built_image_id": self.image_id,
            "digest": self.digest,
            "registries": [r.to_dict() for r in self.registries],
            "webhooks": [d.to_dict() for d in self.webhooks],
            "timings": {"started_at": _utc(self.started_at),
                        "finished_at": _utc(self.finished_at),
                        **{k: round(v, 3) for k, v in self.timings.items()}},
            "warnings": list(self.warnings),
        })
        if self.backend is not None:
            data["backend"] = dict(self.backend)
        return data


def _utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def run(settings: Settings, context: Context, engine: Builder, *, log: Log = _quiet,
        section: Callable[[str], AbstractContextManager[None]] = lambda _: nullcontext(),
        now: Callable[[], datetime] = _utc_now,
        clock: Callable[[], float] = time.monotonic,
        deliver: Callable[..., tuple[webhooks.Delivery, ...]] = webhooks.deliver_all,
        connect: publish.Connect | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backend: Mapping[str, Any] | None = None) -> Result:
    """Build, tag, push and notify. Returns a Result; raises only on bugs."""
    plan = make_plan(settings, context)
    warnings = [*webhooks.url_warnings(settings.webhooks),
                *webhooks.unsigned_warnings(settings.webhooks),
                *buildinputs.name_warnings(settings.build.args)]
    push, held_back = settings.push, "push is off"
    if push and context.secrets_withheld:
        push, held_back = False, "pull request from a fork: built only"
        warnings.append("this pull request comes from a fork, and CIs give such jobs no "
                        "registry secrets: the image is built and tagged but not pushed")
    timings: dict[str, float] = {}
    image_id: str | None = None
    registries: tuple[RegistryResult, ...] = ()
    published_image_id: str | None = None
    error: DockyardError | None = None
    start = clock()
    started_at = now()
    # The preflight's clients, logged in: the publish goes on with them (one token each)
    kept: dict[str, RegistryClient] = {}
    try:
        if not plan.tags:
            message, hint = why_no_tags(plan.context, plan.skipped)
            raise InputError(message, hint=hint)
        release = publish.Release.of(plan)
        if push:  # before the build: a wrong password should cost seconds
            with section("Preflight: can every registry take this push?"):
                problems = publish.preflight(settings, release, connect=connect, log=log,
                                             docker_login=engine.registry_credentials,
                                             keep=kept)
            if problems:
                registries = publish.preflight_results(release, problems)
                raise publish.preflight_error(problems)
        # After the preflight, which registers the Docker config's credentials too.
        baked = buildinputs.secret_problems(settings.build.args, plan.labels, settings.labels)
        if baked:
            raise ConfigError(settings.source, baked)
        with section(f"Build {settings.build.context / settings.build.dockerfile}"):
            log(f"building {settings.build.context} ({settings.build.dockerfile})")
            image_id = engine.build(settings.build, tags=_local_tags(plan, release, push),
                                    labels=plan.labels, log=log)
            timings["build_seconds"] = clock() - start
            log(f"built {image_id}")
        if push and (found := imagescan.needles()):
            scan_start = clock()
            with section("Scan the image for registered secrets before the push"):
                report = engine.scan(image_id, found)
                log(imagescan.summary(report, found))
            timings["scan_seconds"] = clock() - scan_start
            warnings += report.skipped
            if (refusal := report.error()) is not None:
                registries = _not_pushed(plan, "not pushed: a registered secret is in the image")
                raise refusal
        if push:
            push_start = clock()
            for client in kept.values():  # the build may have taken long: fresh ones
                client.close_connections()
            with section("Push to " + ", ".join(plan.images)):
                published = publish.publish(settings, release, engine, log=log,
                                            connect=connect, sleep=sleep,
                                            docker_login=engine.registry_credentials,
                                            image_id=image_id, clients=kept)
            registries, published_image_id = published.registries, published.image_id
            timings["push_seconds"] = clock() - push_start
            error = publish.summary(registries)
        else:
            registries = _not_pushed(plan, held_back)
    except DockyardError as exc:
        error = exc
    finally:
        for client in kept.values():
            client.close()
    event = _event(push, image_id, registries, error)
    result = Result(plan=plan, status="failed" if error else "success", image_id=image_id,
                    registries=registries, published_image_id=published_image_id, error=error,
                    timings=timings, event=event,
                    started_at=started_at, finished_at=now(),
                    warnings=tuple(warnings), backend=backend)
    if settings.webhooks:
        # The record as it stands is the payload: deliveries can't report on themselves.
        notify_start = clock()
        with section(f"Webhooks ({event})"):
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


def _not_pushed(plan: Plan, reason: str) -> tuple[RegistryResult, ...]:
    return tuple(RegistryResult(name=image, status="not pushed",
                                skipped=tuple((t.name, reason) for t in plan.tags))
                 for image in plan.images)


def _local_tags(plan: Plan, release: publish.Release, push: bool) -> list[str]:
    """What the engine tags: everything when building locally; when pushing, only the
    release tags, which are what docker push sends (the rest are written in the
    registries by reference), saving a `docker tag` per floating tag and registry."""
    if not push:
        return plan.references()
    return [parse_image(image).reference(tag) for image in plan.images
            for tag in release.release_tags]


def _event(push: bool, image_id: str | None,
           registries: Sequence[RegistryResult], error: DockyardError | None) -> str:
    """The run's outcome as one event. A failure before the build that concerns a
    registry (a preflight) is a push failure: the build was fine, or never tried."""
    pushing = push and (image_id is not None
                                 or any(r.status == "failed" for r in registries))
    if pushing:
        return "push.failed" if error else "push.succeeded"
    return "build.failed" if error else "build.succeeded"
