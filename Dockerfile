# memswitchd in a container, built with the same set-up script CI uses.
#
# Volumes:
#   /run/memswitch       memif sockets shared with the workloads, and the API socket
#                        (api.sock) that bin/memswitch and the CNI plugin talk to
#   /var/lib/memswitch   the state database (state.db): what was created over the API
#                        survives a restart or a crash only if this is a volume
#   /dev/hugepages       hugepage memory for memif regions (without it: 4 KiB pages,
#                        counted in memswitch_memory_fallback_bytes)
#
# memif only, unprivileged (the default user, uid 10001):
#   docker run -v /run/memswitch:/run/memswitch -v memswitch-state:/var/lib/memswitch \
#     -v /dev/hugepages:/dev/hugepages -p 127.0.0.1:9464:9464 memswitch
# AF_XDP uplinks and veth interfaces need root and these capabilities (and --network host):
#   docker run --user root --network host --cap-add NET_ADMIN --cap-add NET_RAW \
#     --cap-add IPC_LOCK --cap-add SYS_ADMIN -v /run/memswitch:/run/memswitch \
#     -v /var/lib/memswitch:/var/lib/memswitch -v /dev/hugepages:/dev/hugepages \
#     -v /var/run/netns:/var/run/netns memswitch
# NET_ADMIN/NET_RAW: AF_XDP sockets and veth set-up; IPC_LOCK: pinned UMEM and rings;
# SYS_ADMIN: entering network namespaces and loading the XDP program.
#
# Metrics listen on 0.0.0.0:9464 inside the container (the image sets
# MEMSWITCH_METRICS_LISTEN); publish the port to 127.0.0.1 unless Prometheus scrapes
# from elsewhere. With --network host set MEMSWITCH_METRICS_LISTEN=127.0.0.1:9464.
#
# Debian 12 with Node 20 (Debian's own nodejs is 18, below our engines range).
# Build stage: the set-up script CI uses, in its runtime profile (no test peers).
FROM node:20-bookworm-slim AS build
WORKDIR /opt/memswitch
# Native modules (better-sqlite3) build against the headers the node image ships, so the
# build needs the npm registry and Debian's mirrors only (no header or prebuild downloads).
ENV npm_config_nodedir=/usr/local
COPY . .
RUN scripts/setup.sh --runtime && npm prune --omit=dev \
  && rm -rf build/addon/CMakeFiles build/addon/*.ninja* node_modules/better-sqlite3/deps

# Run stage: the built tree and the shared libraries it loads, no compilers.
FROM node:20-bookworm-slim
WORKDIR /opt/memswitch
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libxdp1 libbpf1 libpcap0.8 iproute2 ethtool \
  && rm -rf /var/lib/apt/lists/* \
  && useradd --system --uid 10001 --home-dir /var/lib/memswitch memswitch \
  && mkdir -p /run/memswitch /var/lib/memswitch \
  && chown memswitch:memswitch /run/memswitch /var/lib/memswitch \
  && ln -s /opt/memswitch/bin/memswitch /usr/local/bin/memswitch
COPY --from=build /opt/memswitch /opt/memswitch
ENV MEMSWITCH_METRICS_LISTEN=0.0.0.0:9464
VOLUME ["/run/memswitch", "/var/lib/memswitch"]
EXPOSE 9464
USER memswitch
HEALTHCHECK --interval=30s --timeout=5s CMD ["bin/memswitch", "show", "daemon"]
ENTRYPOINT ["bin/memswitchd"]
