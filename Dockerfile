# hotswap: the MCP gateway, its sidecar and mcp-demo-server in one image.
#   docker build -t hotswap:latest .
# Build stage: a static Swift standard library, so the runtime stages need no Swift toolchain. The package
# build directory is a BuildKit cache mount: a rebuild after a source edit compiles only the changed modules,
# not NIO and Hummingbird again (BuildKit: Docker 23+ and Compose v2 by default; Docker 20.10 with
# DOCKER_BUILDKIT=1; docker-compose 1.29 with DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1).
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libyaml-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN --mount=type=cache,id=hotswap-swiftpm-build,target=/src/.build \
    swift build -c release --static-swift-stdlib --product hotswap \
    && mkdir -p /out \
    && cp .build/release/hotswap /out/ \
    && strip /out/hotswap \
    && ln -s hotswap /out/mcp-demo-server

# Runtime stage: libyaml and libcrypto (dynamically linked), CA certificates for remote servers, and tini
# as PID 1, because the gateway spawns MCP server processes and something must reap orphans.
FROM debian:bookworm-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="hotswap" \
      org.opencontainers.image.description="Hot reload for MCP gateways in containers: gateway, sidecar and demo MCP server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/hotswap/hotswap"
RUN apt-get update \
    && apt-get install -y --no-install-recommends libyaml-0-2 libssl3 ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 hotswap \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin hotswap \
    && mkdir -p /etc/hotswap /run/hotswap /keys /pubkeys \
    && chown hotswap:hotswap /run/hotswap /keys /pubkeys
# mcp-demo-server is a link to hotswap, which runs the demo server when called by that name.
COPY --from=build /out/ /usr/local/bin/
COPY deploy/docker/catalog.yaml /etc/hotswap/catalog.yaml
USER 10001:10001
# tini reaps as a subreaper too where it is not PID 1 (a shared process namespace: compose `pid:`, a pod's
# shareProcessNamespace), instead of warning that it cannot.
ENV HOTSWAP_SOCKET=/run/hotswap/control.sock TINI_SUBREAPER=1
EXPOSE 4444 9533
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["hotswap", "healthcheck", "/run/hotswap/control.sock"]
ENTRYPOINT ["/usr/bin/tini", "--", "hotswap"]
CMD ["gateway", "--config", "/etc/hotswap", "--listen", "0.0.0.0:4444", "--control-socket", "/run/hotswap/control.sock"]

# runtime-full: the same, plus what real catalogs start their servers with: python3 and uv/uvx (from PyPI),
# Node.js with npm/npx (from Debian). docker build --target runtime-full -t hotswap:full .
# HOME and the caches are under /tmp, which stays writable with a read-only root file system. uv uses the
# system's CA certificates (UV_SYSTEM_CERTS): behind a TLS-intercepting proxy, mount your bundle over
# /etc/ssl/certs/ca-certificates.crt at run time, and give it to the build as a secret:
#   docker build --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt --target runtime-full .
FROM runtime AS runtime-full
ARG UV_VERSION=0.13.9
USER 0
RUN --mount=type=secret,id=ca-bundle \
    apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv nodejs npm git \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/uv \
    && if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}" \
    && ln -s /opt/uv/bin/uv /opt/uv/bin/uvx /usr/local/bin/
USER 10001:10001
# Servers start with a minimal environment (HOME, PATH, ...): HOTSWAP_PASS_ENV gives them uv's and npm's settings.
ENV HOME=/tmp UV_CACHE_DIR=/tmp/.cache/uv UV_PYTHON_PREFERENCE=only-system UV_NO_PROGRESS=1 UV_SYSTEM_CERTS=1 \
    npm_config_cache=/tmp/.npm npm_config_update_notifier=false \
    HOTSWAP_PASS_ENV=UV_CACHE_DIR,UV_PYTHON_PREFERENCE,UV_NO_PROGRESS,UV_SYSTEM_CERTS,npm_config_cache,npm_config_update_notifier

# The default target: the slim runtime.
FROM runtime
