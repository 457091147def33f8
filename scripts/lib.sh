# lib.sh holds the setup steps the demo and test scripts share. It is meant
# for Debian 12 and is sourced, not run.

export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# as_postgres runs a command as the postgres system user.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

log() { printf '==> %s\n' "$*" >&2; }

# ensure_go fails early with a clear message when no usable Go is present,
# and installs the C toolchain the build needs.
ensure_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "Go 1.26 or newer is needed (install it to /usr/local/go); Debian's golang package is too old." >&2
    exit 1
  fi
  ensure_cgo
}

# ensure_cgo installs the C compiler and headers that the SQLite driver and
# the race detector build with.
ensure_cgo() {
  if command -v gcc >/dev/null 2>&1 && [ -f /usr/include/stdio.h ]; then return 0; fi
  log "installing gcc libc6-dev"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
}

# ensure_packages installs the Debian packages whose programs are missing.
# Arguments are pairs: a program name and the package that provides it.
ensure_packages() {
  local missing=()
  while [ $# -gt 1 ]; do
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
    shift 2
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_docker starts the Docker engine when no engine answers.
ensure_docker() {
  ensure_packages dockerd docker.io
  if docker info >/dev/null 2>&1; then return 0; fi
  log "starting dockerd"
  $SUDO sh -c 'nohup dockerd >/var/log/labhub-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "dockerd did not start; see /var/log/labhub-dockerd.log" >&2
  exit 1
}

# ensure_image builds the offline notebook image unless its tag exists.
ensure_image() {
  ensure_packages debootstrap debootstrap
  "$(dirname "${BASH_SOURCE[0]}")/build-notebook-image.sh" "$@"
}

# ensure_go_image builds the image that runs the build stage of Labhub's
# Dockerfile without a registry, unless its tag exists.
ensure_go_image() {
  ensure_packages debootstrap debootstrap
  "$(dirname "${BASH_SOURCE[0]}")/build-go-image.sh" "$@"
}

# stop_services stops services a package started on installation: the tests
# run their own instances on loopback ports.
stop_services() {
  for s in "$@"; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$s" 2>/dev/null; then
      $SUDO systemctl stop "$s" || true
    fi
  done
}

# ensure_postgres starts a local PostgreSQL cluster, creates the labhub test
# role, and exports LABHUB_TEST_POSTGRES, unless that is already set.
ensure_postgres() {
  [ -n "${LABHUB_TEST_POSTGRES:-}" ] && return 0
  ensure_packages pg_ctlcluster postgresql
  local ver
  ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | grep -q "^$ver main"; then
    $SUDO pg_createcluster "$ver" main >/dev/null
  fi
  if ! pg_lsclusters -h | grep -q "^$ver main .* online"; then
    log "starting PostgreSQL $ver"
    $SUDO pg_ctlcluster "$ver" main start
  fi
  for _ in $(seq 1 30); do
    as_postgres psql -qtAc 'SELECT 1' >/dev/null 2>&1 && break
    sleep 1
  done
  as_postgres psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname='labhub_test'" | grep -q 1 ||
    as_postgres psql -qc "CREATE ROLE labhub_test LOGIN CREATEDB PASSWORD 'labhub_test'"
  as_postgres psql -qtAc "SELECT 1 FROM pg_database WHERE datname='labhub_test'" | grep -q 1 ||
    as_postgres psql -qc "CREATE DATABASE labhub_test OWNER labhub_test"
  export LABHUB_TEST_POSTGRES="postgres://labhub_test:labhub_test@127.0.0.1:5432/labhub_test?sslmode=disable"
}
