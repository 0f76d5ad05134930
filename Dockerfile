# memswitchd in a container, built with the same set-up script CI uses.
# Run (hugepages and the socket directory shared with workloads):
#   docker run --cap-add NET_ADMIN --cap-add NET_RAW --cap-add IPC_LOCK --cap-add SYS_ADMIN \
#     -v /dev/hugepages:/dev/hugepages -v /run/memswitch:/run/memswitch memswitch
# Debian 12 with Node 20 (Debian's own nodejs is 18, below our engines range).
FROM node:20-bookworm-slim
WORKDIR /opt/memswitch
COPY . .
RUN scripts/setup.sh && rm -rf /var/lib/apt/lists/*
VOLUME ["/run/memswitch"]
ENTRYPOINT ["bin/memswitchd"]
