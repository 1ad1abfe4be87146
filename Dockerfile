# hotswap: the MCP gateway, its sidecar and mcp-demo-server in one image.
#   docker build -t hotswap:latest .
# Build stage: a static Swift standard library, so the runtime stage needs no Swift toolchain.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libyaml-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product hotswap \
    && swift build -c release --static-swift-stdlib --product mcp-demo-server \
    && mkdir -p /out \
    && cp .build/release/hotswap .build/release/mcp-demo-server /out/ \
    && strip /out/hotswap /out/mcp-demo-server

# Runtime stage: libyaml and libcrypto (dynamically linked), CA certificates for remote servers, and tini
# as PID 1, because the gateway spawns MCP server processes and something must reap orphans.
FROM debian:bookworm-slim
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
COPY --from=build /out/hotswap /out/mcp-demo-server /usr/local/bin/
COPY examples/catalog.yaml /etc/hotswap/catalog.yaml
USER 10001:10001
ENV HOTSWAP_SOCKET=/run/hotswap/control.sock
EXPOSE 4444 9533
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["hotswap", "healthcheck", "/run/hotswap/control.sock"]
ENTRYPOINT ["/usr/bin/tini", "--", "hotswap"]
CMD ["gateway", "--config", "/etc/hotswap", "--listen", "0.0.0.0:4444", "--control-socket", "/run/hotswap/control.sock"]
