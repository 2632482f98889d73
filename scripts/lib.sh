# Shared by the README's commands: each checks what it needs and installs
# what it can, or says exactly what is missing.

die() { echo "error: $*" >&2; exit 1; }

need_node() {
  command -v node >/dev/null || die "Node.js 20.19 or newer is required (Debian's nodejs package is older): install it from nodejs.org or NodeSource and retry"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
    die "Node.js 20.19 or newer is required, found $(node --version)"
}

# npm ci when node_modules is missing or older than the lockfile.
ensure_npm_packages() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "==> installing npm packages (npm ci)"
    npm ci --no-audit --no-fund
  fi
}

# apt-get install, when we are root on a Debian-like machine; otherwise say
# exactly what to run.
apt_install() {
  local pkg=$1
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing $pkg (apt-get)"
    apt-get install -y --no-install-recommends "$pkg" >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends "$pkg" >/dev/null; } ||
      die "apt-get install $pkg failed"
  else
    die "$pkg is missing: run 'sudo apt-get install $pkg' and retry"
  fi
}

# Each named command, installed with apt-get when missing (every one here
# is also the name of its Debian package).
ensure_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || apt_install "$tool"
  done
}

ensure_nats_server() {
  if [ -n "${NATS_SERVER_BIN:-}" ]; then return; fi
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
}
