"""`dockyard check`: everything `run` needs, checked without building or pushing.

One `Check` per question (engine, config, git context, each registry, what the build
would bake into the image), each with the fix when it fails. A warning is a check that
passes with something to say (`warning`). The CLI prints them and exits 1 when any failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.context import Context
from dockyard.engine import shown_host
from dockyard.errors import DockyardError
from dockyard.settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False  # passes, but `run` would warn

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix,
                "warning": self.warning}


def run_checks(settings: Settings | DockyardError, context: Context, env: Mapping[str, str],
               connect_engine: Callable[[Mapping[str, str]], Any]) -> list[Check]:
    checks = [_engine(env, connect_engine)]
    if isinstance(settings, DockyardError):
        checks.append(Check("config", False, settings.message, settings.hint
                            or "fix the problems listed, then run `dockyard check` again"))
        return checks
    checks.append(Check("config", True, f"{settings.source}: valid, "
                                        f"{len(settings.images)} image(s)"))
    from dockyard.plan import make_plan

    plan = make_plan(settings, context)
    checks.append(_git(context, plan.tags, plan.skipped))
    checks += _builder(settings, env)
    if settings.push and plan.tags:
        checks += _registries(settings, plan)
    elif not settings.push:
        checks.append(Check("registries", True, "push is off: no registry is needed"))
    # After the registries, whose preflight registers the Docker config's credentials, as
    # `run` does.
    checks += _build_inputs(settings, plan)
    return checks


def _engine(env: Mapping[str, str], connect: Callable[[Mapping[str, str]], Any]) -> Check:
    try:
        engine = connect(env)
    except DockyardError as exc:
        return Check("engine", False, exc.message, exc.hint)
    engine.close()
    return Check("engine", True, "reachable at " + (shown_host(env) if env.get("DOCKER_HOST")
                                                    else "the default socket"))


def _builder(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    """Whether the backend this build needs can run (only when it is buildx, or when
    docker-py is asked for what it cannot do)."""
    from dockyard import backend

    build = settings.build
    choice = backend.choice_for(build.buildkit, build.context / build.dockerfile, env)
    try:
        backend.require(choice)
    except DockyardError as exc:
        return [Check("builder", False, exc.message, exc.hint)]
    if choice.backend == backend.DOCKER_PY:
        return []
    return [Check("builder", True, f"{choice.explain()}: {backend.find_buildx(env)}")]


def _build_inputs(settings: Settings, plan: Any) -> list[Check]:
    """What `run` refuses before the build (a registered secret in a build arg or a label)
    and warns about (a build arg whose name says it is a secret), by key, never by value."""
    from dockyard import buildinputs

    args = settings.build.args
    refused = [Check(problem.key, False, problem.text, _KEEP_SECRETS_OUT)
               for problem in buildinputs.baked_secrets(args, plan.labels, settings.labels)]
    failing = {check.name for check in refused}  # one line a key: the refusal says more
    warned = [Check(warning.key, True, warning.text, warning=True)
              for warning in buildinputs.secret_names(args) if warning.key not in failing]
    return refused + warned


_KEEP_SECRETS_OUT = ("take the secret out of build.args and labels; hand what the build "
                     "needs to it with build.secrets and `RUN --mount=type=secret,id=NAME`")


def _git(context: Context, tags: Any, skipped: Any) -> Check:
    where = context.ref or "a detached HEAD"
    if not context.sha:
        return Check("git", False, "no commit to build", "run inside a git repository with at "
                                                         "least one commit")
    if not tags:
        reasons = "; ".join(f"{s.rule}: {s.reason}" for s in skipped)
        return Check("git", False, f"no tag rule applies at {where} ({reasons})",
                     "add `type=sha` to the rules, or check out a branch or tag")
    shallow = " (shallow clone)" if context.shallow else ""
    names = ", ".join(t.name for t in tags)
    return Check("git", True, f"{context.short_sha} at {where}{shallow}: tags {names}")


def _registries(settings: Settings, plan: Any) -> list[Check]:
    from dockyard import publish
    from dockyard.engine import docker_config_credentials
    from dockyard.registry import REVISION_LABEL

    release = publish.Release(images=plan.images, tags=plan.tags, version=plan.version,
                              revision=plan.labels.get(REVISION_LABEL))
    problems = publish.preflight(settings, release,
                                 docker_login=docker_config_credentials)
    checks = []
    for image in plan.images:
        problem = problems.get(image)
        if problem is None:
            checks.append(Check(f"registry {image}", True, "accepts these credentials for push"))
        else:
            checks.append(Check(f"registry {image}", False, problem.message, problem.hint))
    return checks
