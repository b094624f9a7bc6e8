# Dockyard's own image: the `dockyard` command with its dependencies, and git (Dockyard reads
# the checkout's tags and state when no CI variables say them), run as a non-root user.
# Everything `run`, `check`, `plan`, `promote` and `merge` need: the engine is reached
# through DOCKER_HOST or a mounted /var/run/docker.sock, registries over HTTP(S).
#
#   docker build -t dockyard .
#   docker run --rm -v "$PWD:/work" -v /var/run/docker.sock:/var/run/docker.sock dockyard run
#
# BASE: any Debian-like image with python3 (>= 3.10) and its venv module. APT_PACKAGES are
# installed into it with apt-get, those it lacks (none, for a base that has them). An
# offline build passes PIP_NO_INDEX=1 and PIP_FIND_LINKS=/src/wheelhouse, with the wheels
# in ./wheelhouse (tests/wrappers/test_image.py does, from a base made with mmdebstrap).
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
ARG PIP_NO_INDEX=
ARG PIP_FIND_LINKS=
COPY . /src
RUN python3 -m venv /opt/dockyard \
 && /opt/dockyard/bin/pip install --no-cache-dir --disable-pip-version-check --quiet /src \
 && /opt/dockyard/bin/pip uninstall --yes --quiet pip \
 && /opt/dockyard/bin/dockyard --version

FROM ${BASE}
ARG APT_PACKAGES=git
# Only the packages the base lacks: a base that has them all needs no network here.
RUN missing=$(for package in $APT_PACKAGES; do \
      dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' \
        || echo "$package"; done) \
 && if [ -n "$missing" ]; then \
      apt-get update \
      && apt-get install --yes --no-install-recommends $missing \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && useradd --create-home --uid 10001 --user-group dockyard
COPY --from=build /opt/dockyard /opt/dockyard
ENV PATH=/opt/dockyard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1
# A checkout mounted from elsewhere belongs to another uid: git refuses it unless it is safe.
RUN git config --system --add safe.directory '*' 2>/dev/null || true
USER dockyard
WORKDIR /work
ENTRYPOINT ["dockyard"]
CMD ["--help"]
