# meshgate's container image. One file, two targets:
#
#   runtime (the default, last stage): builds inside, from the source tree as context
#       docker build -t meshgate .
#   prebuilt: the context is an app folder already built on the host (dist/, the
#       peer-credentials addon, production node_modules, package.json), as
#       docker/build-local-images.sh stages it for machines without a registry
#       docker build --target prebuilt -f Dockerfile <staged folder>
#
# Base images are build arguments, so air-gapped sites can name their own registry:
#   --build-arg NODE_IMAGE=registry.example/node:20-bookworm-slim
#
# The stages that reach the final image use no RUN: an image holding only `node` and
# its libraries (no shell) serves as NODE_IMAGE. The classic builder (no BuildKit) also
# builds every stage before the target, so `prebuilt` comes before `build`: building it
# never needs a compiler or the npm registry, and building `runtime` merely copies the
# source tree once more into an unused stage.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- what every target runs as ----
FROM ${NODE_IMAGE} AS base
ENV NODE_ENV=production
WORKDIR /app
# The official Node image's `node` user; a numeric id needs no /etc/passwd entry.
USER 1000:1000
# local (apps), federation (other gateways, mTLS), admin (/ready, /metrics, /debug/*)
EXPOSE 4140 4143 9901
# /ready answers 200 once the gateway has joined membership. The admin listener must be
# reachable inside the container at MESHGATE_HEALTH_URL (the config's default is
# 127.0.0.1:9901, which is).
HEALTHCHECK --interval=5s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.MESHGATE_HEALTH_URL||'http://127.0.0.1:9901/ready',{signal:AbortSignal.timeout(8000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form, no shell in between: SIGTERM from `docker stop` reaches the gateway, which
# drains (limits.drainTimeout, 15 s by default: give `docker stop` / compose
# stop_grace_period more than that). The Node option is the gateway's own (GATEWAY_NODE_OPTIONS
# in src/gateway/heap.ts), as its `#!` line carries it.
ENTRYPOINT ["node", "--max-semi-space-size=8", "/app/dist/cli.js"]
CMD ["run", "--config", "/etc/meshgate/meshgate.yaml"]

# ---- the app built on the host: the context is the staged app folder ----
FROM base AS prebuilt
# Owned by root and so read-only to the gateway's user.
COPY . /app/

# ---- build inside: dev dependencies, the TypeScript build and the addon ----
FROM ${NODE_IMAGE} AS build
USER root
WORKDIR /src
# node-gyp needs python3, make and a C compiler for native/peercred; slim images lack them.
RUN if ! command -v python3 >/dev/null || ! command -v make >/dev/null || ! command -v cc >/dev/null || ! command -v g++ >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*; \
    fi
COPY package.json package-lock.json ./
# No install scripts: nothing the build needs has one (the addon is built below).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json .dependency-cruiser.cjs ./
COPY src ./src
COPY native ./native
# Node's own headers when the image has them (official images do), so node-gyp
# downloads nothing; otherwise node-gyp fetches them.
RUN nodedir="$(dirname "$(dirname "$(command -v node)")")"; \
    if [ -f "$nodedir/include/node/node_api.h" ]; then export npm_config_nodedir="$nodedir"; fi; \
    npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && mkdir -p /out/native/peercred/build/Release \
 && cp -r package.json dist node_modules /out/ \
 && cp native/peercred/build/Release/peercred.node /out/native/peercred/build/Release/

# ---- the default: the app built above on the runtime base ----
FROM base AS runtime
COPY --from=build /out/ /app/
