# The operator image: `hedgeops operator` with the bundled market data (Paper books replay it).
#
#   docker build -t ghcr.io/hedgeops/hedgeops:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#
# Two stages: `builder` builds HedgeOps' wheel and installs it with its dependencies into a virtualenv; the final
# stage holds only that virtualenv and the market data, on the same base image, and runs as a numeric non-root user
# (the chart's runAsNonRoot / runAsUser 10001). No compiler or build tool reaches the final stage.
# tests/test_dockerfile.py checks all of this; docs/deployment.md says how to build and how to update the base.

# The base image, pinned by digest (the multi-arch index of python:3.11-slim, Python 3.11.16 on Debian trixie): the
# tag says what it is, the digest fixes the bytes, so a rebuild cannot silently pick up another image. To update it
# (e.g. for Debian security fixes), resolve the tag's current index digest and replace the part after `@`:
#   crane digest python:3.11-slim
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest}}'   # its "digest"
# Override for a mirror: --build-arg PYTHON_IMAGE=registry.internal/python:3.11-slim@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Every dependency ships wheels for linux/amd64 and arm64, so no compiler is installed. One that needs building on
# your platform: add `RUN apt-get update && apt-get install -y --no-install-recommends build-essential` HERE, in
# the builder, never in the final stage.
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hedgeops ./hedgeops
# The wheel first (what a release publishes), then the virtualenv from it; pip compiles the .pyc files now, since
# the final container's root filesystem is read-only.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install /wheels/hedgeops-*.whl

FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
LABEL org.opencontainers.image.title="hedgeops" \
      org.opencontainers.image.description="HedgeOps: a kopf Kubernetes operator for delta-neutral crypto strategies" \
      org.opencontainers.image.source="https://github.com/hedgeops/hedgeops" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# No home directory, no login shell: the operator writes only to /tmp (an emptyDir in the chart).
RUN groupadd --gid 10001 hedgeops \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hedgeops
# Root-owned and so read-only to the operator's user: the market data Paper books replay, then the virtualenv.
COPY data /app/data
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH HEDGEOPS_DATA_DIR=/app/data PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
# 8080: kopf's health endpoint (liveness and readiness); 9108: Prometheus metrics; 8081: the TradingView webhook.
EXPOSE 8080 9108 8081
ENTRYPOINT ["hedgeops"]
CMD ["operator"]
