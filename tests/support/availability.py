"""One rule for a missing tool or service: fail in CI, skip on a developer's machine.

CI must never go green by skipping the integration tests, while a developer without a
Docker engine should still be able to run the unit tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NoReturn

import pytest

_FALSE_WORDS = {"", "0", "false", "no", "off"}


def is_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """True when CI says so; GitHub, GitLab and our CI set CI=true (Jenkins does not)."""
    return environ.get("CI", "").strip().lower() not in _FALSE_WORDS


def unavailable(message: str, *, ci: bool) -> NoReturn:
    """Fail the test in CI, skip it elsewhere, with a message that says how to fix it."""
    if ci:
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)
