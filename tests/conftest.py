"""Fixtures shared by every test; the logic behind them lives in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import docker
import pytest

from dockyard import secrets
from support import engine, gitrepo, hermetic
from support.availability import is_ci
from support.receiver import WebhookReceiver
from support.registry import Registry, RegistryFactory

# Read before any test scrubs the environment: in CI a missing engine fails, elsewhere it skips.
IN_CI = is_ci()
TESTS_DIR = Path(__file__).parent
AUTH_USERNAME = "dockyard-ci"
AUTH_PASSWORD = "not-a-real-secret-7"

GitRepoFactory = Callable[..., Path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ is an integration test, marked or not."""
    integration_dir = TESTS_DIR / "integration"
    for item in items:
        if item.path.is_relative_to(integration_dir):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    hermetic.make_hermetic(monkeypatch, list(os.environ), tmp_path_factory.mktemp("home"))


@pytest.fixture(autouse=True)
def _no_secrets_from_other_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets registry lives as long as the process, as in a real run; in-process
    tests each start with an empty one, so one test's secret never masks another's text."""
    monkeypatch.setattr(secrets, "_known", set())
    monkeypatch.setattr(secrets, "_forms", set())
    monkeypatch.setattr(secrets, "_pattern", None)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    client = engine.connect(ci=IN_CI)
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> str:
    """`dockyard-test/busybox:latest`, a base image with a shell, usable in FROM offline."""
    return engine.ensure_base_image(docker_engine, tmp_path_factory.mktemp("base"), ci=IN_CI)


@pytest.fixture(scope="session")
def modern_engine() -> Iterator[docker.DockerClient]:
    """The modern engine (Docker 26, containerd image store) that scripts/setup starts;
    fails, never skips, when it does not answer."""
    client = engine.connect_modern()
    yield client
    client.close()


@pytest.fixture(scope="session")
def modern_base_image(modern_engine: docker.DockerClient,
                      tmp_path_factory: pytest.TempPathFactory) -> str:
    """`dockyard-test/busybox:latest` in the modern engine's image store."""
    return engine.ensure_base_image(modern_engine, tmp_path_factory.mktemp("base"), ci=True)


@pytest.fixture(params=["classic", "modern"])
def each_engine(request: pytest.FixtureRequest,
                monkeypatch: pytest.MonkeyPatch) -> engine.EngineUnderTest:
    """The test runs once per engine, with DOCKER_HOST pointing at it (so `dockyard`,
    in-process or spawned, builds and pushes there) and the base image built there."""
    if request.param == "classic":
        host = engine.classic_host()
        client = request.getfixturevalue("docker_engine")
        base = request.getfixturevalue("base_image")
    else:
        host = engine.MODERN_HOST
        client = request.getfixturevalue("modern_engine")
        base = request.getfixturevalue("modern_base_image")
    monkeypatch.setenv("DOCKER_HOST", host)
    return engine.EngineUnderTest(request.param, host, client, base,
                                  engine.uses_containerd_store(client))


@pytest.fixture(scope="session")
def registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryFactory]:
    """Call it for one more empty registry: `registry_factory()` or with username, password."""
    factory = RegistryFactory(tmp_path_factory.mktemp("registries"), ci=IN_CI)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def registry(registry_factory: RegistryFactory) -> Registry:
    """A registry without auth, shared by the session: use repository names unique to a test."""
    return registry_factory()


@pytest.fixture(scope="session")
def auth_registry(registry_factory: RegistryFactory) -> Registry:
    """A registry requiring basic auth (`.username`, `.password`, `.auth_config`), shared."""
    return registry_factory(AUTH_USERNAME, AUTH_PASSWORD)


@pytest.fixture
def receivers() -> Iterator[Callable[[], WebhookReceiver]]:
    """More receivers than the one `webhook_receiver` gives; all closed afterwards."""
    made: list[WebhookReceiver] = []

    def make() -> WebhookReceiver:
        made.append(WebhookReceiver())
        return made[-1]

    yield make
    for receiver in made:
        receiver.kill()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.kill()


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepoFactory:
    """Call it to make a repository: `git_repo(files=None, tags=("v1.2.3",), branch="main")`."""
    count = 0

    def make(
        files: Mapping[str, str | bytes] | None = None,
        *,
        tags: Sequence[str] = (),
        branch: str = "main",
        annotated: bool = False,
    ) -> Path:
        nonlocal count
        count += 1
        return gitrepo.make_repo(
            tmp_path / f"repo-{count}", files, tags=tags, branch=branch, annotated=annotated
        )

    return make
