"""Who publishing talks to, and as whom: the settings it reads, credentials per image,
a connected client per registry host."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.names import parse_image
from dockyard.registry import RegistryClient, RetryPolicy, ecr_credentials, is_ecr
from dockyard.settings import Credentials, Publishing, Settings

Log = Callable[[str], None]
Sleep = Callable[[float], None]
Connect = Callable[[str, Credentials | None], RegistryClient]
DockerLogin = Callable[[str], Credentials | None]  # host -> what `docker login` stored


def quiet(_: str) -> None:
    pass


class Target(Protocol):
    """What publishing reads of the settings: credentials, guards, retries."""

    @property
    def force(self) -> bool: ...

    @property
    def publishing(self) -> Publishing: ...

    def credentials_for(self, image: str) -> Credentials | None: ...


@dataclass(frozen=True)
class Options:
    """A Target without a dockyard.yml (promote): credentials, force and retries only."""

    registries: Mapping[str, Credentials] = field(default_factory=dict)
    publishing: Publishing = field(default_factory=Publishing)
    force: bool = False

    @classmethod
    def of(cls, settings: Settings) -> Options:
        return cls(settings.registries, settings.publishing, settings.force)

    def credentials_for(self, image: str) -> Credentials | None:
        return self.registries.get(parse_image(image).host)


def retry_policy(settings: Target) -> RetryPolicy:
    options = settings.publishing
    return RetryPolicy(retries=options.retries, backoff_seconds=options.backoff_seconds,
                       max_backoff_seconds=options.max_backoff_seconds,
                       timeout_seconds=options.timeout_seconds)


def connector(settings: Target, sleep: Sleep = time.sleep) -> Connect:
    policy = retry_policy(settings)
    insecure = set(settings.publishing.insecure)

    def connect(host: str, credentials: Credentials | None) -> RegistryClient:
        return RegistryClient(host, credentials, policy=policy, sleep=sleep,
                              insecure=host in insecure)

    return connect


def credentials(settings: Target, image: str,
                docker_login: DockerLogin | None) -> Credentials | None:
    """The `registries:` entry for the image's host, else what `docker login` stored."""
    host = parse_image(image).host
    found = settings.credentials_for(image)
    if found is None and docker_login is not None:
        found = docker_login(host)
    if found is None and is_ecr(host):
        found = ecr_credentials(host)
    return found
