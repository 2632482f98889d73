#!/usr/bin/env bash
# Builds meshgate's image without a registry, from what this machine has:
#   1. NODE_IMAGE: a root file system holding this machine's `node` and the libraries
#      `ldd` names, imported with `docker import`;
#   2. NATS_IMAGE: the same for `nats-server`;
#   3. MESHGATE_IMAGE: the Dockerfile's `prebuilt` target on NODE_IMAGE, from the app
#      built here (npm run build) and its production dependencies.
# Images whose inputs have not changed are kept. Prints the three names at the end.
#
#   docker/build-local-images.sh            # after npm run build
#   MESHGATE_IMAGE=meshgate:dev docker/build-local-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_IMAGE=${NODE_IMAGE:-meshgate-local/node:20}
NATS_IMAGE=${NATS_IMAGE:-meshgate-local/nats:local}
MESHGATE_IMAGE=${MESHGATE_IMAGE:-meshgate:local}
STAGE=${STAGE:-.tmp/docker}

die() { echo "error: $*" >&2; exit 1; }
step() { echo "==> $*"; }

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-unset})"
NODE_BIN=$(readlink -f "$(command -v node)") || die "node is not on the PATH"
NATS_BIN=$(readlink -f "${NATS_SERVER_BIN:-$(command -v nats-server || echo /usr/sbin/nats-server)}")
[ -x "$NATS_BIN" ] || die "nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER_BIN"
[ -f dist/cli.js ] || die "dist/cli.js is missing: run npm run build first"
ADDON=native/peercred/build/Release/peercred.node
[ -f "$ADDON" ] || die "$ADDON is missing: run npm run build first"

label_of() { docker image inspect -f '{{ index .Config.Labels "org.meshgate.inputs" }}' "$1" 2>/dev/null || true; }

# The shared libraries and loader a binary needs, as ldd prints them (absolute paths).
libraries_of() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

# rootfs_with DIR BIN DEST: BIN at DEST in DIR, with its libraries at the paths ldd names.
rootfs_with() {
  local dir=$1 bin=$2 dest=$3 lib
  mkdir -p "$dir$(dirname "$dest")" "$dir/etc" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  cp "$bin" "$dir$dest"
  for lib in $(libraries_of "$bin"); do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
  # uid 1000 is the Dockerfile's user (the official Node image's `node`).
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$dir/etc/group"
  printf 'hosts: files dns\n' >"$dir/etc/nsswitch.conf"
}

# import_rootfs IMAGE INPUTS BIN DEST CHANGES...: imports BIN's root file system as IMAGE
# unless an image of the same inputs is there.
import_rootfs() {
  local image=$1 inputs=$2 bin=$3 dest=$4
  shift 4
  if [ "$(label_of "$image")" = "$inputs" ]; then
    step "$image is up to date"
    return
  fi
  step "importing $image ($bin with its libraries)"
  local dir
  dir=$(mktemp -d)
  rootfs_with "$dir" "$bin" "$dest"
  local changes=(--change "LABEL org.meshgate.inputs=$inputs" --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin')
  local c
  for c in "$@"; do changes+=(--change "$c"); done
  tar -C "$dir" -c . | docker import "${changes[@]}" - "$image" >/dev/null
  rm -rf "$dir"
}

inputs_of() { { sha256sum "$1"; for lib in $(libraries_of "$1"); do sha256sum "$lib"; done; } | sha256sum | cut -c1-16; }

import_rootfs "$NODE_IMAGE" "$(inputs_of "$NODE_BIN")" "$NODE_BIN" /usr/local/bin/node 'CMD ["node"]'
import_rootfs "$NATS_IMAGE" "$(inputs_of "$NATS_BIN")" "$NATS_BIN" /usr/local/bin/nats-server \
  'ENTRYPOINT ["/usr/local/bin/nats-server"]' 'EXPOSE 4222 6222 7222 8222'

# The app as the prebuilt target wants it: the context is the app folder.
step "staging the app in $STAGE/app"
mkdir -p "$STAGE/app"
app=$STAGE/app
rm -rf "$app/dist" "$app/native"
cp -r dist "$app/dist"
mkdir -p "$app/native/peercred/build/Release"
cp "$ADDON" "$app/native/peercred/build/Release/"
# Production dependencies, installed again only when the lockfile changed.
if ! cmp -s package-lock.json "$app/package-lock.json" || [ ! -d "$app/node_modules" ]; then
  step "installing production dependencies (npm ci --omit=dev)"
  cp package.json package-lock.json "$app/"
  (cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
fi
cp package.json "$app/"

step "building $MESHGATE_IMAGE (target prebuilt, NODE_IMAGE=$NODE_IMAGE)"
previous=$(docker image inspect -f '{{ .Id }}' "$MESHGATE_IMAGE" 2>/dev/null || true)
docker build -q -f Dockerfile --target prebuilt --build-arg "NODE_IMAGE=$NODE_IMAGE" -t "$MESHGATE_IMAGE" "$app" >/dev/null
# The image this build replaced, unless a container still uses it.
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{ .Id }}' "$MESHGATE_IMAGE")" ]; then
  docker rmi "$previous" >/dev/null 2>&1 || true
fi
size=$(docker image inspect -f '{{ .Size }}' "$MESHGATE_IMAGE")
step "$MESHGATE_IMAGE: $((size / 1000000)) MB"
echo "NODE_IMAGE=$NODE_IMAGE"
echo "NATS_IMAGE=$NATS_IMAGE"
echo "MESHGATE_IMAGE=$MESHGATE_IMAGE"
