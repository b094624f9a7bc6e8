"""The secret scan (issue 13): distinctive secrets, registered the ways users register
them, through the failure paths of a real `dockyard run`; then every output is searched
for every secret in plain and encoded forms.

Searched: stdout, stderr (but the `::add-mask::` commands, whose job is to hand the value
to the runner), the `--output` record, the `--dotenv` file, GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY and GITHUB_ENV, the labels of every image the run built (engine and
registry), every webhook body and header received (but the one header configured to
carry its token), and every file under the test's tmp dirs and $HOME.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import docker
import pytest

from support.cli import Outcome, run_cli
from support.receiver import WebhookReceiver
from support.registry import Registry, RegistryFactory

USER = "scan-bot"
REGISTRY_PASSWORD = "scan+Reg/Pw==k7Q"
WRONG_PASSWORD = "wrong+Pw/x==9Zt"
WEBHOOK_SECRET = "whsec+scan/K3y=="
HEADER_TOKEN = "hdrTok+scan/55="
GITHUB_TOKEN = "ghs_scanToken0123456789ABCDEF"  # only ever in GITHUB_SERVER_URL's userinfo
HOOK_PASSWORD = "hookPw+9x/Qm"
HOOK_PATH_TOKEN = "slkPathTok31x9q"
HOOK_QUERY_TOKEN = "qTok-55z+Lm"
SECRETS = (REGISTRY_PASSWORD, WRONG_PASSWORD, WEBHOOK_SECRET, HEADER_TOKEN, GITHUB_TOKEN,
           HOOK_PASSWORD, HOOK_PATH_TOKEN, HOOK_QUERY_TOKEN)


def encodings(secret: str) -> dict[str, str]:
    """The forms a secret takes when it leaks: written out here, independently of the
    redactor's own list."""
    forms = {
        "plain": secret,
        "quote": quote(secret, safe=""),
        "quote-lower": quote(secret, safe="").replace("%2B", "%2b").replace("%2F", "%2f"),
        "quote_plus": quote_plus(secret),
        "json": json.dumps(secret)[1:-1],
    }
    data = secret.encode()
    for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
        forms[name] = encode(data).decode()
        forms[f"{name}-user"] = encode(f"{USER}:{secret}".encode()).decode()
        for offset in (1, 2):  # inside something longer: what base64 is sure to contain
            whole = encode(b"\0" * offset + data).decode()
            forms[f"{name}-offset{offset}"] = whole[4:(offset + len(data)) // 3 * 4]
    return forms


def leaks(text: str) -> list[str]:
    return [f"{secret!r} as {name}" for secret in SECRETS
            for name, form in encodings(secret).items() if form and form in text]


@dataclass
class Outputs:
    """Everything one run wrote or sent, by where it was found."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, text: str) -> None:
        self.texts[where] = text

    def leaks(self) -> list[str]:
        return [f"{where}: {leak}" for where, text in self.texts.items() for leak in leaks(text)]


@pytest.fixture(scope="module")
def scan_registry(registry_factory: RegistryFactory) -> Registry:
    """A registry whose password has the characters every encoding changes."""
    return registry_factory(USER, REGISTRY_PASSWORD)


def _dead_port() -> int:
    receiver = WebhookReceiver()
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    receiver.kill()
    return port


def _config(repo: Path, registry: Registry, name: str, hooks: str, extra: str = "") -> None:
    (repo / "dockyard.yml").write_text(
        f"images: [{registry.host}/scan/{name}]\n"
        "tags:\n  - type=semver,pattern={{version}}\n  - type=sha\n"
        f"registries:\n  {registry.host}:\n"
        "    username: ${REGISTRY_USER}\n    password: ${REGISTRY_PASSWORD}\n"
        f"{extra}webhooks:\n{hooks}")


def _hook(url: str, required: bool = False) -> str:
    return (f"  - url: '{url}'\n    secret: ${{WEBHOOK_SECRET}}\n"
            f"    required: {'true' if required else 'false'}\n    max_attempts: 2\n"
            "    timeout: 5\n"
            "    headers: {Authorization: 'Bearer ${HEADER_TOKEN}'}\n")


def _run(repo: Path, tmp_path: Path, password: str = REGISTRY_PASSWORD,
         hostile_url: str = "") -> Outcome:
    out = tmp_path / "ci"
    out.mkdir(exist_ok=True)
    for name in ("output", "summary", "env"):
        (out / name).touch()
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.0.0",
           "GITHUB_SHA": sha, "GITHUB_REPOSITORY": "acme/scan", "GITHUB_RUN_ID": "42",
           "GITHUB_SERVER_URL": f"https://x-access-token:{GITHUB_TOKEN}@127.0.0.1:9",
           "GITHUB_WORKSPACE": str(repo), "GITHUB_OUTPUT": str(out / "output"),
           "GITHUB_STEP_SUMMARY": str(out / "summary"), "GITHUB_ENV": str(out / "env"),
           "REGISTRY_USER": USER, "REGISTRY_PASSWORD": password,
           "WEBHOOK_SECRET": WEBHOOK_SECRET, "HEADER_TOKEN": HEADER_TOKEN,
           "HOSTILE_URL": hostile_url}
    return run_cli(repo, "run", "--format", "json", "--output", "out/record.json",
                   "--dotenv", "out/build.env", env=env)


def _collect(outcome: Outcome, tmp_path: Path, docker_engine: docker.DockerClient,
             registry: Registry, name: str, receiver: WebhookReceiver) -> Outputs:
    found = Outputs()
    found.add("stdout", outcome.stdout)
    found.add("stderr", "\n".join(line for line in outcome.stderr.splitlines()
                                  if not line.startswith("::add-mask::")))
    for path in [*tmp_path.rglob("*"), *Path(os.environ["HOME"]).rglob("*")]:
        if path.is_file() and ".git" not in path.parts:
            found.add(str(path), path.read_bytes().decode("utf-8", "replace"))
    record = outcome.json if outcome.stdout else {}
    for image_id in {record.get("image_id"), record.get("built_image_id")} - {None}:
        found.add(f"labels of {image_id}", json.dumps(docker_engine.images.get(image_id).labels))
    for tag in registry.tags(f"scan/{name}"):
        found.add(f"registry labels of {tag}",
                  json.dumps(registry.config_labels(f"scan/{name}", tag)))
    for index, request in enumerate(receiver.requests):
        where = f"webhook #{index}"
        # the one header configured to carry its token there, and nothing else
        assert request.header("Authorization") == f"Bearer {HEADER_TOKEN}"
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        found.add(f"{where} headers", json.dumps(headers))
        found.add(f"{where} body", request.body.decode("utf-8", "replace"))
        found.add(f"{where} path", request.path)
    return found


def test_the_scan_finds_a_leak_when_there_is_one() -> None:
    for secret in SECRETS:
        for form in encodings(secret).values():
            assert leaks(f"x {form} y"), form
    encoded = base64.b64encode(f"{USER}:{REGISTRY_PASSWORD}".encode()).decode()
    assert leaks(f"Authorization: Basic {encoded}")


@pytest.mark.parametrize("path", [
    "parse error in the Dockerfile",
    "failing RUN that echoes the secret, plain and base64",
    "registered secret in a build arg",
    "bad registry credentials",
    "required webhook answering 500",
    "credential-bearing webhook URL that cannot be reached",
    "credential-bearing webhook URL that fails validation",
    "credential-bearing webhook URL whose password is not percent-encoded",
])
def test_no_secret_leaves_in_any_form_on_any_failure_path(
    path: str, git_repo: Callable[..., Path], base_image: str, scan_registry: Registry,
    receivers: Callable[[], WebhookReceiver], docker_engine: docker.DockerClient,
    tmp_path: Path,
) -> None:
    name = "scan" + str(abs(hash(path)) % 10**6)
    # A registered secret reaches a failing build through a file of the context (a build
    # arg holding one is refused before the build, issue 14).
    dockerfile = f"FROM {base_image}\nRUN echo built\n"
    password, hostile_url, extra = REGISTRY_PASSWORD, "", ""
    receiver = receivers()
    hooks = _hook(receiver.url)
    expected_code = 1
    if path == "parse error in the Dockerfile":
        dockerfile = f"FROM {base_image}\nCOPY pw.txt /pw.txt\nRUNN echo $(cat /pw.txt)\n"
    elif path.startswith("failing RUN"):
        dockerfile = (f"FROM {base_image}\nCOPY pw.txt /pw.txt\nRUN PW=$(cat /pw.txt); "
                      f"echo \"pw=$PW\"; printf '%s' \"{USER}:$PW\" | base64; "
                      "printf '%s' \"$PW\" | base64; exit 3\n")
    elif path == "registered secret in a build arg":
        extra = "build:\n  args: {PW: '${REGISTRY_PASSWORD}'}\n"
        expected_code = 2
    elif path == "bad registry credentials":
        password = WRONG_PASSWORD
    elif path == "required webhook answering 500":
        receiver.script([500, 500])
        hooks = _hook(receiver.url, required=True)
    elif path.startswith("credential-bearing webhook URL that cannot"):
        # percent-encoded: its '/' would end the host part (the next case)
        hostile_url = (f"http://hookbot:{quote(HOOK_PASSWORD, safe='')}@127.0.0.1:"
                       f"{_dead_port()}/services/T0/B0/{HOOK_PATH_TOKEN}"
                       f"?token={HOOK_QUERY_TOKEN}")
        hooks += _hook("${HOSTILE_URL}", required=True)
    elif path.endswith("not percent-encoded"):
        hostile_url = (f"http://hookbot:{HOOK_PASSWORD}@127.0.0.1:{_dead_port()}"
                       f"/services/T0/B0/{HOOK_PATH_TOKEN}?token={HOOK_QUERY_TOKEN}")
        hooks += _hook("${HOSTILE_URL}", required=True)
        expected_code = 2
    else:
        hostile_url = (f"ftp://hookbot:{HOOK_PASSWORD}@127.0.0.1/services/T0/B0/"
                       f"{HOOK_PATH_TOKEN}?token={HOOK_QUERY_TOKEN}")
        hooks += _hook("${HOSTILE_URL}")
        expected_code = 2
    repo = git_repo({"Dockerfile": dockerfile, "hello.txt": "hi\n",
                     "pw.txt": REGISTRY_PASSWORD}, tags=("v1.0.0",))
    _config(repo, scan_registry, name, hooks, extra)
    outcome = _run(repo, tmp_path, password, hostile_url)
    assert outcome.code == expected_code, outcome.stderr
    (repo / "pw.txt").unlink()  # the input; every other file is searched
    found = _collect(outcome, tmp_path, docker_engine, scan_registry, name, receiver)
    if extra:
        assert "build.args.PW: its value holds a registered secret" in outcome.stderr
    elif expected_code == 2:  # a config error: nothing ran (the CLI's JSON on config errors
        assert "webhooks[1].url" in outcome.stderr  # is another part of issue 13)
    else:
        assert (repo / "out" / "record.json").is_file()
        assert receiver.requests, "the webhook was delivered (a body and headers to scan)"
        assert outcome.json["status"] == "failed"
    assert found.texts["stderr"]
    assert found.leaks() == []
