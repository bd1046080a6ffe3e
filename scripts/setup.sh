#!/usr/bin/env bash
# Makes a Debian/Ubuntu machine ready to build, run and test Parley: installs the PostgreSQL server
# binaries (used by the embedded cluster and the tests) when they are missing. As root it installs
# them with apt-get; otherwise it prints exactly what to install and fails.
set -euo pipefail

missing=()
need() { missing+=("$1"); }

have_pg_server() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
  return 1
}

command -v cargo >/dev/null 2>&1 || { echo "setup: Rust is required (cargo not found): see https://rustup.rs" >&2; exit 1; }
have_pg_server || need postgresql
# `make test` validates the OpenAPI document with a PyPI tool in a virtualenv.
command -v python3 >/dev/null 2>&1 || need python3
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need python3-venv
# The web client is built (`make run`) and tested (`make test`) with Node.js and npm (Vite 7
# needs Node.js 20.19 or newer); `make bench` also runs the seeds' Node.js stack as a peer.
command -v node >/dev/null 2>&1 || need nodejs
command -v npm >/dev/null 2>&1 || need npm
if [ "${1:-}" = bench ]; then
  command -v curl >/dev/null 2>&1 || need curl
  command -v redis-server >/dev/null 2>&1 || need redis-server
  # The XMPP peer: Debian's ejabberd and its PostgreSQL driver.
  command -v ejabberdctl >/dev/null 2>&1 || need ejabberd
  compgen -G "/usr/lib/erlang/lib/p1_pgsql-*" >/dev/null || need erlang-p1-pgsql
  # The report's breakdown counts Parley's syscalls per message with perf (scripts/profile.sh).
  command -v perf >/dev/null 2>&1 || need linux-perf
fi
# `make test` drives Debian's Chromium for the web client's browser tests.
if [ "${1:-}" = browser ]; then
  command -v chromium >/dev/null 2>&1 || need chromium
  command -v chromedriver >/dev/null 2>&1 || need chromium-driver
  # Reactions are emoji: without a colour emoji font the screenshots show empty boxes.
  [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need fonts-noto-color-emoji
fi
# `make test` runs the documented nginx configuration in front of Parley, several instances
# joined by Redis (Debian's redis-server, started by the tests on their own ports), and jumps the
# clock of a gateway under test (libfaketime).
if [ "${1:-}" = proxy ]; then
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need nginx
  command -v redis-server >/dev/null 2>&1 || need redis-server
  # The nemesis' clock jumps: libfaketime, preloaded into the gateway under test.
  compgen -G "/usr/lib/*/faketime/libfaketimeMT.so.1" >/dev/null || need libfaketime
fi
# `make test` checks the systemd unit in config/ with systemd-analyze.
if [ "${1:-}" = unit ]; then
  command -v systemd-analyze >/dev/null 2>&1 || need systemd
fi
# Running as root, the embedded cluster runs as the `postgres` user, which the server package creates.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then need postgresql; fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
# One entry per package.
read -r -a missing <<<"$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${missing[*]} with apt-get"
  # Parley runs its own clusters; do not let the package create and start a system-wide one.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
  fi
  # Packages that come with a service (nginx, redis-server) must not start one: tests run their own, on
  # 127.0.0.1, and stop it. policy-rc.d answering 101 is Debian's way to say so.
  blocker=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    blocker=/usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  status=0
  DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ -n "$blocker" ] && rm -f "$blocker"
  [ "$status" = 0 ] || exit "$status"
  echo "setup: installed ${missing[*]}"
else
  echo "setup: missing ${missing[*]}. Install with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
