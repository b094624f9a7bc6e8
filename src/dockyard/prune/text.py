"""The prune record as text for people: per repository, what goes and why, and what
is kept, counted by reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any


def prune_text(data: Mapping[str, Any]) -> str:
    lines = ["retention:"] + [f"  {rule}" for rule in data["retention"]]
    for repo in data["repositories"]:
        lines.append("")
        head = f"{repo['name']}: {repo['status']}"
        if repo["error"]:
            lines.append(f"{head}: {repo['error']}")
            if not repo["tags"]:
                continue
        else:
            going = len(repo["delete"])
            lines.append(f"{head} ({repo['tags']} tag(s), {going} to delete)")
        done = {tag for entry in repo["deleted"] for tag in entry["tags"]}
        for verdict in repo["delete"]:
            mark = "deleted" if verdict["tag"] in done else \
                "not deleted" if data["applied"] else "would delete"
            forced = f" (--force overrode: {verdict['forced']})" if verdict["forced"] else ""
            if verdict["tag"] in repo["tag_only"]:
                forced += " (the tag alone: its image is kept)"
            lines.append(f"  {mark} {verdict['tag']} {verdict['digest'][:19]}: "
                         f"{verdict['reason']} [{verdict['rule']}]{forced}")
        for digest in repo["platform_images"]:
            lines.append(f"  {'deleted' if data['applied'] else 'would delete'} platform "
                         f"image {digest[:19]} (of a deleted index)")
        for entry in repo["left"]:
            lines.append(f"  left    {entry['tag']}: {entry['reason']}")
        kept = Counter(v["family"] for v in repo["kept"])
        for family, count in sorted(kept.items()):
            lines.append(f"  kept    {count} {family} tag(s)")
        for verdict in repo["kept"]:
            if verdict["rule"]:  # kept by a retention rule: say which and why
                lines.append(f"  kept    {verdict['tag']}: {verdict['reason']} "
                             f"[{verdict['rule']}]")
    if not data["applied"]:
        lines += ["", "dry run: nothing was deleted; run with --apply to delete"]
    lines.append(f"status: {data['status']}")
    return "\n".join(lines)
