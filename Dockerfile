# syntax=docker/dockerfile:1
#
# syncd container image. Build from the repository root:
#   docker build -t syncd:0.1.0 .
# Run (the config must set `metrics: {listen: "0.0.0.0:9464"}` to be reachable
# from outside the container):
#   docker run --read-only --tmpfs /tmp -e CASEDEV_API_KEY \
#     -v "$PWD/syncd.yaml:/etc/syncd/syncd.yaml:ro" -p 127.0.0.1:9464:9464 syncd:0.1.0
#
# The base image is pinned by tag (Python minor version and Debian release), not
# by digest: the digest can only be resolved against the registry, and it
# changes with every Debian security rebuild. Pin it as
# python:3.11-slim-bookworm@sha256:... in release pipelines (and let Renovate or
# Dependabot bump it) once the build has registry access.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# The venv is created at its final path: its scripts' shebangs point into it.
RUN python -m venv /opt/syncd
WORKDIR /src
# Dependencies first, so code changes reuse this layer. Every pin is checked
# against its sha256 in requirements.lock (pip-compile --generate-hashes);
# the lock also pins setuptools, the build backend used for syncd below.
COPY requirements.lock ./
RUN /opt/syncd/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY syncd ./syncd
# --no-index --no-build-isolation: nothing is downloaded past the locked set.
RUN /opt/syncd/bin/pip install --no-cache-dir --no-deps --no-build-isolation --no-index . \
    && /opt/syncd/bin/pip check

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="syncd" \
      org.opencontainers.image.description="Keeps managed-Postgres connection strings in sync with AWS Secrets Manager and HashiCorp Vault." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/example/syncd" \
      org.opencontainers.image.documentation="https://github.com/example/syncd/blob/main/docs/deployment.md" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# A fixed, unprivileged UID/GID that Kubernetes' runAsNonRoot can check and
# that manifests (config/kubernetes/) and volume permissions can rely on.
RUN groupadd --system --gid 10001 syncd \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent \
       --no-create-home --shell /usr/sbin/nologin syncd

COPY --from=builder /opt/syncd /opt/syncd
# The console script at the path the systemd units and docs use everywhere.
RUN ln -s /opt/syncd/bin/syncd /usr/local/bin/syncd

# Bytecode was compiled at install time; nothing is written at run time, so
# the container runs with --read-only (plus a tmpfs on /tmp for libraries that
# want a temporary file).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SYNCD_CONFIG=/etc/syncd/syncd.yaml

USER 10001:10001
WORKDIR /tmp
EXPOSE 9464

# No curl in the slim image; the venv's Python checks /healthz instead. This
# runs inside the container's network namespace, so it also works with the
# default listen address 127.0.0.1:9464. Kubernetes ignores it and uses the
# probes in config/kubernetes/deployment.yaml.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/syncd/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]

ENTRYPOINT ["syncd"]
CMD ["run"]
