"""The image of a GitHub `container:` job, built offline on the classic engine.

What such an image has for the action: bash, python3 with pip, git. The offline base
(own_image.OFFLINE_BASE, made by scripts/setup) has no pip, only Debian's pip wheel, which
is installed from itself; PyPI is the wheelhouse, copied in and named by PIP_NO_INDEX and
PIP_FIND_LINKS, so the action's install step resolves Dockyard's dependencies (and the
setuptools its build needs) as it would on a runner, without a network. No docker CLI:
the job reaches the engine through the socket the runner mounts.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import docker

from .own_image import OFFLINE_BASE, WHEELHOUSE, require_offline_inputs

DOCKERFILE = f"""\
FROM {OFFLINE_BASE}
COPY wheelhouse /wheelhouse
RUN wheel=$(echo /usr/share/python-wheels/pip-*.whl) \\
 && python3 "$wheel/pip" install --no-index --quiet --break-system-packages "$wheel"
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheelhouse PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_ROOT_USER_ACTION=ignore
"""


def build_job_image(client: docker.DockerClient, context: Path, *, ci: bool) -> str:
    """Build the image under a unique tag in `context` (an empty directory); its tag."""
    require_offline_inputs(client, ci=ci)
    (context / "Dockerfile").write_text(DOCKERFILE)
    shutil.copytree(WHEELHOUSE, context / "wheelhouse",
                    ignore=shutil.ignore_patterns("dockyard-*"))
    tag = f"dockyard-test/github-job:{uuid.uuid4().hex[:12]}"
    client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    return tag
