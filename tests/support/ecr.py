"""A loopback stand-in for Amazon ECR's JSON API (the two operations Dockyard calls),
over a real distribution registry that holds the images, as ECR's registry does.

Documented shapes (docs.aws.amazon.com/AmazonECR/latest/APIReference): `POST /` with
`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`, a JSON 1.1 body, and
a SigV4 `Authorization` whose credential scope names the region and the `ecr` service.
`GetAuthorizationToken` answers `authorizationData[].authorizationToken`, the base64 of
`AWS:<password>`; `BatchDeleteImage` takes `registryId`, `repositoryName` and
`imageIds` (`imageDigest` or `imageTag`) and answers the deleted `imageIds` and, per
image, `failures` (`failureCode`, `failureReason`). ECR throttles with HTTP 400
`ThrottlingException`. A tag deleted alone is emulated on the distribution registry.
boto3 reaches it through `AWS_ENDPOINT_URL_ECR`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from .registry import Registry
from .standin import Answer, StandIn

TARGET = "AmazonEC2ContainerRegistry_V20150921."
_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([a-z0-9-]+)/ecr/aws4_request")
_JSON = {"Content-Type": "application/x-amz-json-1.1"}


class EcrApi(StandIn):
    def __init__(self, registry: Registry, *, access_key: str) -> None:
        super().__init__(registry)
        self.access_key = access_key
        self.regions: list[str] = []  # the region of each signed request, as signed
        self.batches: list[dict[str, Any]] = []  # the BatchDeleteImage requests
        self.failures: dict[str, tuple[str, str]] = {}  # digest or tag -> code, reason
        self.throttle = 0  # answer this many requests with ThrottlingException first

    def recorded(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[str, str]:
        return method, headers.get("X-Amz-Target", "").removeprefix(TARGET)

    def answer_request(self, method: str, path: str, body: bytes,
                       headers: Mapping[str, str]) -> Answer:
        signed = _SCOPE.search(headers.get("Authorization", ""))
        if method != "POST" or signed is None or signed.group(1) != self.access_key:
            return _error(400, "UnrecognizedClientException",
                          "The security token included in the request is invalid.")
        self.regions.append(signed.group(2))
        if self.throttle:
            self.throttle -= 1
            return _error(400, "ThrottlingException", "Rate exceeded")
        operation = headers.get("X-Amz-Target", "").removeprefix(TARGET)
        request = json.loads(body or b"{}")
        if operation == "GetAuthorizationToken":
            assert self.registry.password is not None
            token = base64.b64encode(f"AWS:{self.registry.password}".encode()).decode()
            return 200, _JSON, json.dumps({"authorizationData": [{
                "authorizationToken": token, "expiresAt": 4102444800,
                "proxyEndpoint": f"https://{request['registryIds'][0]}.dkr.ecr.example"}],
            }).encode()
        if operation == "BatchDeleteImage":
            return 200, _JSON, json.dumps(self._delete(request)).encode()
        return _error(400, "UnknownOperationException", operation)

    def _delete(self, request: dict[str, Any]) -> dict[str, Any]:
        self.batches.append(request)
        name = request["repositoryName"]
        deleted: list[dict[str, str]] = []
        failures: list[dict[str, Any]] = []
        for image in request["imageIds"]:
            key = image.get("imageDigest") or image.get("imageTag")
            if key in self.failures:
                code, reason = self.failures[key]
                failures.append({"imageId": image, "failureCode": code,
                                 "failureReason": reason})
                continue
            gone = self.registry.delete_manifest(name, key) if "imageDigest" in image \
                else self.registry.delete_tag_alone(name, key)
            if gone:
                deleted.append(image)
            else:
                failures.append({"imageId": image, "failureCode": "ImageNotFound",
                                 "failureReason": "Requested image not found"})
        return {"imageIds": deleted, "failures": failures}


def _error(status: int, kind: str, message: str) -> Answer:
    return status, _JSON, json.dumps({"__type": kind, "message": message}).encode()
