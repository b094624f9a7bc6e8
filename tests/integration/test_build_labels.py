"""The labels reach the image in one build step, on both engines, exactly as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine import Engine
from dockyard.settings import Build
from support.engine import EngineUnderTest

LABELS = {
    "org.opencontainers.image.version": "1.2.3",
    "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
    "org.example.quoted": 'say "hi" to $HOME and ${USER}, \\ and \\" too',
    "org.example.spaces": "  two  words  ",
    "org.example.unicode": "café ☕",
    "org.example.empty": "",
}


# The labels end a copy of the Dockerfile, or, where that cannot put them on the image
# built (a target stage, an escape directive), a second build FROM the first sets them.
DOCKERFILES = {
    "plain": ("FROM {base}\nLABEL org.example.from-dockerfile=kept\n"
              "RUN echo built > /built.txt\n", None),
    "target": ("FROM {base} AS runtime\nLABEL org.example.from-dockerfile=kept\n"
               "RUN echo built > /built.txt\nFROM {base} AS other\nRUN echo other > /o\n",
               "runtime"),
    "escape": ("# escape=`\nFROM {base}\nLABEL org.example.from-dockerfile=kept\n"
               "RUN echo built > /built.txt\n", None),
}


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_labels_are_one_step_and_read_as_written(
    each_engine: EngineUnderTest, tmp_path: Path, kind: str,
) -> None:
    text, target = DOCKERFILES[kind]
    (tmp_path / "Dockerfile").write_text(text.format(base=each_engine.base_image))
    repository = f"dockyard-test/labels-{each_engine.name}"
    lines: list[str] = []
    engine = Engine.connect({"DOCKER_HOST": each_engine.host})
    try:
        image_id = engine.build(Build(context=tmp_path, target=target),
                                tags=[f"{repository}:one"], labels=LABELS, log=lines.append)
        image = each_engine.client.images.get(image_id)
        try:
            assert image.labels == {**LABELS, "org.example.from-dockerfile": "kept"}
            assert f"{repository}:one" in image.tags
            label_steps = [line for line in lines if " : LABEL " in line]
            if each_engine.name == "classic":  # the legacy builder numbers its steps
                assert len(label_steps) == 2, lines  # the Dockerfile's own, and ours
                assert not any("other > /o" in line for line in lines)
        finally:
            each_engine.client.images.remove(f"{repository}:one", force=True)
    finally:
        engine.close()


def test_a_label_with_a_line_break_still_lands(each_engine: EngineUnderTest,
                                               tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {each_engine.base_image}\n")
    repository = f"dockyard-test/labels-{each_engine.name}"
    engine = Engine.connect({"DOCKER_HOST": each_engine.host})
    try:
        labels = {"org.example.note": "line one\nline two", "org.example.plain": "yes"}
        image_id = engine.build(Build(context=tmp_path), tags=[f"{repository}:two"],
                                labels=labels)
        try:
            assert each_engine.client.images.get(image_id).labels == labels
        finally:
            each_engine.client.images.remove(f"{repository}:two", force=True)
    finally:
        engine.close()
