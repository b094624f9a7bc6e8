"""What the config bakes into an image, checked before the build: build args and labels.

A build arg's value is stored in the image's history (`ARG` and each `RUN` after it
record it, and a provenance attestation lists it), and a label in the image's config:
both are readable by anyone who can pull the image, from every registry it is pushed to.
A registered secret in either is refused before anything is built; a build arg whose
name says it is a secret gets a warning, whatever its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from dockyard import imagescan, secrets

# The words of a build arg's name that say it holds a secret (NPM_TOKEN, dbPassword,
# AWS_SECRET_ACCESS_KEY, GPG_PRIVATE_KEY...). Whole words only: KEYRING_VERSION,
# AUTHOR and TOKENIZER_MODEL are no secrets.
_SECRET_WORDS = frozenset({
    "TOKEN", "TOKENS", "PASSWORD", "PASSWORDS", "PASSWD", "PASSPHRASE", "PASS", "PWD",
    "SECRET", "SECRETS", "KEY", "KEYS", "APIKEY", "CREDENTIAL", "CREDENTIALS", "CREDS",
    "AUTH", "PAT", "PRIVATE",
})
# A name that ends in one of these names something about a secret, not the secret:
# TOKEN_URL, KEY_ID, PASSWORD_FILE, AUTH_USER; and a PUBLIC key is no secret.
_ABOUT_A_SECRET = frozenset({
    "ID", "NAME", "FILE", "PATH", "DIR", "URL", "URI", "HOST", "PORT", "ENDPOINT", "USER",
    "USERNAME", "VERSION", "TYPE", "ALGORITHM", "SIZE", "LENGTH", "TTL", "REF",
})
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_EXAMPLE = ("`build.secrets: {npm: ${NPM_TOKEN}}` in dockyard.yml and, in the Dockerfile, "
            "`RUN --mount=type=secret,id=npm NPM_TOKEN=$(cat /run/secrets/npm) npm ci`")


@dataclass(frozen=True)
class InputProblem:
    """A build arg or label that `run` refuses or warns about, by its key (never its value)."""

    key: str  # build.args.NPM_TOKEN, labels.org.example.token, the generated label NAME
    text: str  # what is wrong and what to do

    def __str__(self) -> str:
        return f"{self.key}: {self.text}"


def secret_problems(args: Mapping[str, str], labels: Mapping[str, str],
                    configured_labels: Mapping[str, str]) -> list[str]:
    """A problem for each build arg and label whose value holds a registered secret (the
    value itself or any of its encoded forms, whole or inside a longer value). `labels`
    are the image's labels, `configured_labels` those the config's `labels:` sets."""
    return [str(problem) for problem in baked_secrets(args, labels, configured_labels)]


def baked_secrets(args: Mapping[str, str], labels: Mapping[str, str],
                  configured_labels: Mapping[str, str]) -> list[InputProblem]:
    """`secret_problems`, each with the key it is about."""
    found = imagescan.needles()
    known = set(secrets.known())

    def holds_secret(value: str) -> bool:
        return value.strip() in known or found.found_in(value)

    problems = [
        InputProblem(
            f"build.args.{name}",
            "its value holds a registered secret (a registry password, token or webhook "
            "secret), and build args are stored in the image's history, readable by anyone "
            "who can pull it. Hand the build a secret with build.secrets instead, e.g. "
            f"{_EXAMPLE}")
        for name, value in args.items() if holds_secret(value)]
    problems += [
        InputProblem(
            f"labels.{name}" if name in configured_labels else f"the generated label {name}",
            "its value holds a registered secret, and labels are stored in the image's "
            "config, readable by anyone who can pull it; remove it from the labels")
        for name, value in labels.items() if holds_secret(value)]
    return problems


def name_warnings(args: Mapping[str, str]) -> list[str]:
    """A warning for each build arg whose name says it holds a secret."""
    return [str(warning) for warning in secret_names(args)]


def secret_names(args: Mapping[str, str]) -> list[InputProblem]:
    """`name_warnings`, each with the key it is about."""
    return [InputProblem(f"build.args.{name}",
                         "the name looks like a secret's, and build args are stored in the "
                         "image's history, readable by anyone who can pull it; pass secrets "
                         f"with build.secrets instead, e.g. {_EXAMPLE}")
            for name in args if looks_secret(name)]


def looks_secret(name: str) -> bool:
    """Whether a build arg's name says it holds a secret (NPM_TOKEN: yes; KEYRING_VERSION,
    TOKEN_URL, PUBLIC_KEY: no)."""
    words = [word.upper() for word in _WORD.findall(name)]
    if not words or "PUBLIC" in words or words[-1] in _ABOUT_A_SECRET:
        return False
    return any(word in _SECRET_WORDS for word in words)
