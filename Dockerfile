# syntax=docker/dockerfile:1
#
# TeleGate image: two stages.
#   build   — dev dependencies, `npm run build` (tsc → dist/)
#   runtime — production dependencies only, dist/ + lua/ + package files,
#             non-root numeric user, nothing written at run time (works with a
#             read-only root filesystem; only /tmp may be a writable tmpfs).
#
# Pinned by full version tag. For reproducible releases pin the digest too
# (`node:20.20.2-bookworm-slim@sha256:…`): a tag can be re-pushed, a digest cannot.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Lockfile first: the dependency layer is cached until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force
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
