"""Fixtures of the wrapper tests."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from ci_tools import remove_images


@pytest.fixture
def built(docker_engine: docker.DockerClient) -> Iterator[list[str]]:
    """Repositories the test builds into: their images are removed from the engine after."""
    repositories: list[str] = []
    yield repositories
    remove_images(docker_engine, repositories)
