"""Why a plan holds no tag, and what would give one: `plan`'s note, `run`'s error."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.context import Context
from dockyard.tagging import SkippedRule


def why_no_tags(context: Context, skipped: Sequence[SkippedRule]) -> tuple[str, str]:
    """What is missing for a tag, and what to do: the message and the hint."""
    reasons = "; ".join(f"{s.rule}: {s.reason}" for s in skipped) or "no rules"
    message = f"no tag rule produced a tag for this context ({reasons})"
    types = {s.rule.split(",")[0] for s in skipped}
    if not context.sha:
        message += (": there is no commit to name (no checkout with a commit here, and no CI "
                    "variable names one), so no rule that reads git (type=sha, ref, semver, "
                    "edge, match) can apply")
        hint = ("run Dockyard in the repository's checkout, or in CI, which names the "
                "commit; or add a rule that needs no git, such as `type=raw,value=dev`")
    elif not context.ref:
        message += ": no branch or tag is known (HEAD is detached and carries no tag)"
        hint = "check out a branch or tag" + (
            "" if "type=sha" in types else ", or add `type=sha`, which names the commit")
    else:
        hint = "add a rule that applies to this event" + (
            "" if "type=sha" in types else ", such as `type=sha`, which names the commit")
    return message, hint
