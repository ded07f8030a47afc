# syntax=docker/dockerfile:1
#
# TeleGate image: three stages.
#   build   — compilers for the one native module (better-sqlite3), dev
#             dependencies, `npm run build` (tsc → dist/)
#   deps    — the build stage's node_modules pruned to production dependencies
#             (the native module stays as compiled there)
#   runtime — those node_modules, dist/ + lua/ + package files, no compiler,
#             non-root numeric user, nothing written at run time (works with a
#             read-only root filesystem; only /tmp may be a writable tmpfs).
#             Same base image as the build stage: same glibc and Node ABI as the
#             compiled module.
#
# Pinned by full version tag. For reproducible releases pin the digest too
# (`node:20.20.2-bookworm-slim@sha256:…`): a tag can be re-pushed, a digest cannot.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3's install takes a prebuilt binary when it can download one and
# otherwise compiles SQLite with node-gyp: python3, make and g++, this stage only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
# Lockfile first: the dependency layer is cached until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM build AS deps
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8000
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
# Code stays owned by root and read-only to the service user: the process
# cannot rewrite what it runs. lua/ and the dashboard's static files are read
# at run time from the package root (tsc copies only .ts output into dist/).
COPY --from=build /app/dist ./dist
COPY lua ./lua
COPY src/ui/static ./src/ui/static
# uid/gid 1000 is the image's `node` user; numeric so that Kubernetes'
# runAsNonRoot can verify it without reading /etc/passwd.
USER 1000:1000
EXPOSE 8000
# Liveness only (never depends on Redis). Node itself does the request: slim
# images have no curl/wget. Kubernetes ignores HEALTHCHECK and uses its probes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "require('http').get({host:'127.0.0.1',port:process.env.PORT||8000,path:'/healthz',timeout:3000},r=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself (graceful shutdown).
CMD ["node", "dist/main.js"]
