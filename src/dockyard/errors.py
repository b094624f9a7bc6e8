"""One root for every expected failure; the CLI maps each branch to an exit code.

Exit codes (the public contract): 0 ok, 1 runtime failure, 2 bad input (nothing was
pushed), 3 a bug in Dockyard.
"""

from __future__ import annotations

from collections.abc import Iterable


class DockyardError(Exception):
    """An expected failure. Its message says what went wrong and what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class InputError(DockyardError):
    """Bad configuration, usage or input. Nothing was built or pushed."""

    exit_code = 2


class ConfigError(InputError):
    """Every problem found in the configuration, reported together."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = [f"{source}: {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class ContextError(InputError):
    """The git or CI context lacks what the tag rules need."""


class EngineError(DockyardError):
    """The Docker engine cannot be reached or refused a request."""


class BuildError(DockyardError):
    """The image build failed."""

    def __init__(self, message: str, *, log_tail: Iterable[str] = (), hint: str | None = None):
        self.log_tail = tuple(log_tail)
        super().__init__(message, hint=hint)

    def __str__(self) -> str:
        text = super().__str__()
        if self.log_tail:
            tail = "\n".join(f"  | {line}" for line in self.log_tail)
            text = f"{text}\n  last lines of the build log:\n{tail}"
        return text


class PublishError(DockyardError):
    """A push to a registry failed."""


class WebhookError(DockyardError):
    """A required webhook could not be delivered."""


class SecretInImageError(DockyardError):
    """The pre-push scan found a registered secret in the image: nothing was pushed."""
