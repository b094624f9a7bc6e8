"""dockyard.publish.annotate: what is written where, for each level, as buildx would."""

from __future__ import annotations

import json

from dockyard.annotations import Annotation, for_levels
from dockyard.publish.annotate import annotate, image_manifest
from dockyard.registry import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Manifest
from dockyard.registry.client import DOCKER_MANIFEST_LIST, digest_of

CONFIG = "sha256:" + "c" * 64
LAYER = "sha256:" + "1" * 64


def manifest(data: dict[str, object], media_type: str) -> Manifest:
    content = json.dumps(data).encode()
    return Manifest(content, media_type, digest_of(content))


def docker_image() -> Manifest:
    return manifest({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                     "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                "digest": CONFIG, "size": 100},
                     "layers": [{"mediaType":
                                 "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                 "digest": LAYER, "size": 200}]}, DOCKER_MANIFEST)


VALUES = {"org.opencontainers.image.version": "1.2.3", "com.example.team": "payments"}


def test_a_docker_manifest_becomes_its_oci_equivalent_with_the_annotations() -> None:
    done = image_manifest(docker_image(), VALUES)
    data = json.loads(done.content)

    assert done.media_type == OCI_MANIFEST == data["mediaType"]
    assert data["config"] == {"mediaType": "application/vnd.oci.image.config.v1+json",
                              "digest": CONFIG, "size": 100}
    assert data["layers"] == [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                               "digest": LAYER, "size": 200}]  # the same blobs
    assert data["annotations"] == VALUES
    assert done.digest == digest_of(done.content)
    assert image_manifest(docker_image(), VALUES) == done  # one digest, every time


def test_only_the_levels_that_apply() -> None:
    image = docker_image()
    assert annotate(image, {}, for_levels(VALUES, ["index"])) is None
    done = annotate(image, {}, for_levels(VALUES, ["manifest", "index"]))
    assert done is not None and done.children == ()
    assert json.loads(done.top.content)["annotations"] == VALUES


def test_an_index_its_images_their_entries_and_attestations() -> None:
    child = docker_image()
    attestation = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []},
                           OCI_MANIFEST)
    index = manifest({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": child.digest, "size": len(child.content),
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": OCI_MANIFEST, "digest": attestation.digest, "size": 10,
         "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                         "vnd.docker.reference.digest": child.digest}},
    ]}, DOCKER_MANIFEST_LIST)
    levels = [*for_levels(VALUES, ["manifest", "index"]),
              Annotation("manifest-descriptor", "com.example.entry", "yes")]

    done = annotate(index, {child.digest: child, attestation.digest: attestation}, levels)

    assert done is not None
    [new_child] = done.children
    data = json.loads(done.top.content)
    assert done.top.media_type == OCI_INDEX == data["mediaType"]
    assert data["annotations"] == VALUES
    image_entry, attestation_entry = data["manifests"]
    assert image_entry["digest"] == new_child.digest != child.digest
    assert image_entry["size"] == len(new_child.content)
    assert image_entry["annotations"] == {"com.example.entry": "yes"}
    assert attestation_entry["digest"] == attestation.digest  # left as it is
    assert attestation_entry["annotations"]["vnd.docker.reference.digest"] == new_child.digest
