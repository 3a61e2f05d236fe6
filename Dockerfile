# syntax=docker/dockerfile:1
# flowwatch: one image for every service; the container's command picks them
# (`start` runs all of them, `start --services collector` one). See docker-compose.yml.
#
#   docker build -t flowwatch .
#   docker run --rm -e KAFKA_BROKERS=kafka:9092 -e CLICKHOUSE_URL=http://clickhouse:8123 \
#     -e FLOWWATCH__HTTP__HOST=0.0.0.0 -p 127.0.0.1:8080:8080 flowwatch
#
# The image needs a Kafka (KAFKA_BROKERS) and a ClickHouse server (CLICKHOUSE_URL): it has no Java
# for the local broker, and the embedded engine (chDB, ~550 MB) is left out of the runtime stage.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV CI=true
# corepack is not usable here; the version matches "packageManager" in package.json.
RUN npm install --global pnpm@9.15.9 && pnpm config set store-dir /pnpm/store
# `pnpm fetch` reads only the lockfile, so this layer survives source edits.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY . .
RUN pnpm install --frozen-lockfile --offline
RUN pnpm build
# Relink production dependencies only (from the store, offline), without optional ones: that drops
# chDB's native library, unused with CLICKHOUSE_URL.
RUN rm -rf node_modules packages/*/node_modules services/*/node_modules \
 && pnpm install --frozen-lockfile --offline --prod --no-optional \
 && rm -rf test

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only for the service user; only ./data (embedded state) is writable.
COPY --from=build /app /app
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8080
# No curl in the slim image: node's fetch. The port follows FLOWWATCH__HTTP__PORT (default 8080).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.FLOWWATCH__HTTP__PORT || 8080}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "services/cli/dist/main.js"]
CMD ["start"]
