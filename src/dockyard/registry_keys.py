"""The `registries:` keys checked against the images: a key is a registry host, and
credentials for a host that no image lives on are never used by `run`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dockyard.names import host_problem, normalise_host, parse_image, unused_host_note


def registry_key_problems(registries: Mapping[str, object], images: Iterable[str],
                          notes: list[str]) -> list[tuple[str, str]]:
    """A problem for each key that is no registry host (a port out of range, say); a note,
    added to `notes`, for each key that matches no image's host."""
    image_hosts = {parse_image(image).host for image in images}
    problems = []
    for key in registries:
        host = normalise_host(str(key))
        if not host:
            continue  # an empty key: the schema, or an unset variable, says so
        problem = host_problem(host)
        if problem:
            problems.append((f"registries.{key}", problem))
            continue
        note = unused_host_note(host, image_hosts)
        if note:
            notes.append(f"registries.{key}: {note}")
    return problems
