#!/usr/bin/env bash
# Starts ejabberd (Debian's package, 23.01) on 127.0.0.1:PORT against the PostgreSQL listening
# on 127.0.0.1:PGPORT, in its own database `ejabberd` (ejabberd's own schema), with an SQL pool of
# POOL connections, and prints the pid of its process tree. Stop it with stop.sh WORKDIR.
# Usage: benches/peers/ejabberd/start.sh WORKDIR PGPORT PORT POOL
set -euo pipefail
work="$1"; pgport="$2"; port="$3"; pool="$4"
here="$(cd "$(dirname "$0")" && pwd)"
command -v ejabberdctl >/dev/null || { echo "ejabberd is not installed (apt-get install ejabberd erlang-p1-pgsql)" >&2; exit 1; }
mkdir -p "$work/spool" "$work/logs"
psql -h 127.0.0.1 -p "$pgport" -U parley -d postgres -qAtc "SELECT 1 FROM pg_database WHERE datname = 'ejabberd'" | grep -q 1 || {
  psql -h 127.0.0.1 -p "$pgport" -U parley -d postgres -qc "CREATE DATABASE ejabberd" >&2
  psql -h 127.0.0.1 -p "$pgport" -U parley -d ejabberd -q -v ON_ERROR_STOP=1 -f /usr/share/ejabberd/sql/pg.sql >/dev/null
}
sed -e "s|@PORT@|$port|g" -e "s|@PGPORT@|$pgport|g" -e "s|@POOL@|$pool|g" \
  "$here/ejabberd.yml.in" > "$work/ejabberd.yml"
# A node name of its own, so a system ejabberd (if any) is untouched.
echo "ERLANG_NODE=parleybench@localhost" > "$work/ejabberdctl.cfg"
if [ "$(id -u)" = 0 ]; then chown -R ejabberd "$work"; fi
ejabberdctl --config "$work/ejabberd.yml" --ctl-config "$work/ejabberdctl.cfg" \
  --spool "$work/spool" --logs "$work/logs" foreground > "$work/logs/stdout.log" 2>&1 &
echo $!
