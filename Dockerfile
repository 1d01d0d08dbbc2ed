# syntax=docker/dockerfile:1
# Build with dev dependencies, run on a slim image as a non-root user. Node
# 24.22.3: the version CI runs the suites on (.ci/run NODE24_VERSION).
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# --omit=dev keeps the peer dependencies (ioredis, bullmq): the lock flags
# them peer, not dev.
RUN npm run build && npm prune --omit=dev

FROM node:24.22.3-bookworm-slim
ENV NODE_ENV=production TZ=UTC
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
COPY deploy/healthcheck.js ./deploy/healthcheck.js
USER node
EXPOSE 8080
# `serve`: GET /healthz on its listen address (--listen, else SLUICE_API_LISTEN,
# else 127.0.0.1:8080). `run` (the default command) has no HTTP endpoint: it
# is healthy while it runs (it exits on a fatal error; the restart policy acts).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "deploy/healthcheck.js"]
# Node 24's young generation grows to 128 MB (Node 20's: 32 MB): the daemon's
# RSS peak in the replay bench went from ~160 MB to 200–265 MB. Semi-spaces of
# 16 MB (Node 20's) keep it at ~160 MB with no loss of throughput
# (docs/benchmarks.md, ninth sitting).
ENTRYPOINT ["node", "--max-semi-space-size=16", "bin/sluice.js"]
CMD ["run"]
