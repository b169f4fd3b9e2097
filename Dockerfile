# syntax=docker/dockerfile:1
# One image for every part of Launchpad; the part is chosen at run time:
#   docker build -t launchpad .
#   docker run --rm -p 50051:50051 launchpad --target=users
# (--target=all|users|deployments|edge|agent; docker-compose.yml runs them all.)

# ── build: compile TypeScript (better-sqlite3 ships its binaries: no g++) ───
FROM node:24-bookworm AS build
WORKDIR /app
# npm 11.16 and later honour package.json's allowScripts (so @scarf/scarf's
# postinstall does not run); the image may ship an older npm.
RUN npm install -g --no-audit --no-fund npm@11.19.1
# Dependencies first, so source edits reuse this layer.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# What tsconfig.build.json compiles (its "include"), and the descriptor set
# `npm run build` copies into dist/gen for server reflection.
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY gen ./gen
COPY services ./services
COPY edge ./edge
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ── runtime: the compiled program and production dependencies only ───────────
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    LAUNCHPAD_LISTEN_HOST=0.0.0.0 \
    LAUNCHPAD_DATA_DIR=/var/lib/launchpad
WORKDIR /app
# The program stays owned by root, read-only to the user it runs as; only the
# data directory (SQLite files, the demo agent's key) is writable.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p -m 0700 /var/lib/launchpad && chown node:node /var/lib/launchpad
USER node
# users gRPC, deployments gRPC, edge HTTP, users and deployments metrics.
EXPOSE 50051 50052 8080 9451 9452
# With no arguments the check finds what the container's target serves
# (from /proc/1) and asks it: grpc.health.v1 for services, /healthz for the edge.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/bin/healthcheck.js"]
ENTRYPOINT ["node", "dist/bin/launchpad.js"]
CMD ["--target=all"]
