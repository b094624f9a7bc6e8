"""The builder a run uses, as `build.backend` and the build decide (see backend.py).

docker-py needs an engine; buildx needs its binary (and an engine or builder behind it).
A choice that cannot run is refused here, before anything is built (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dockyard import backend
from dockyard.settings import Settings


def open_builder(settings: Settings, env: Mapping[str, str], reporter: Any,
                 connect_engine: Callable[..., Any]) -> tuple[Any, backend.Choice]:
    """An Engine (docker-py) or a Buildx for this run, and why that one (the record's
    `backend`); `reporter` hears their progress."""
    build = settings.build
    choice = backend.choice_for(build.buildkit, build.context / build.dockerfile, env)
    backend.require(choice)
    reporter.info(f"builder: {choice.explain()}")
    if choice.backend == backend.DOCKER_PY:
        return connect_engine(env, progress=reporter.transfer, detail=reporter.detail), choice
    from dockyard.buildx import Buildx

    binary = backend.find_buildx(env)
    assert binary is not None  # require() refused a missing buildx
    return Buildx(binary, env, settings, progress=reporter.transfer, detail=reporter.detail,
                  load=not settings.push), choice
