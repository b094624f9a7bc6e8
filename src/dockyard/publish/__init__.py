"""Publishing: preflight, one engine push and copies, tags by reference, floating tags last.

The flow, one module a step:

- `connect`: the settings publishing reads, credentials per image, a client per host;
- `preflight`: before the build, can every registry take this push;
- `order`: the landing of one release, release tags first (`copy` moves the blobs);
- `floating`: version lines and channels, once every registry holds the release;
- `policy`: the rules (kinds, never backwards, rollbacks), as pure functions;
- `promote`, `merge`: publishing an image that is in a registry already;
- `release`: what is published, and the typed results.
"""

from dockyard.publish.connect import Connect, DockerLogin, Options, Target, connector, credentials
from dockyard.publish.copy import copy_manifest, copy_to_many
from dockyard.publish.merge import merge
from dockyard.publish.order import Pusher, publish
from dockyard.publish.policy import held_back, promoted_tag
from dockyard.publish.preflight import preflight, preflight_error, preflight_results
from dockyard.publish.promote import promote, split_reference
from dockyard.publish.release import (
    Outcome,
    Published,
    RegistryResult,
    Release,
    Restored,
    summary,
)

__all__ = [
    "Connect", "DockerLogin", "Options", "Outcome", "Published", "Pusher", "RegistryResult",
    "Release", "Restored", "Target", "connector", "copy_manifest", "copy_to_many",
    "credentials", "held_back", "merge", "preflight", "preflight_error", "preflight_results",
    "promote", "promoted_tag", "publish", "split_reference", "summary",
]
