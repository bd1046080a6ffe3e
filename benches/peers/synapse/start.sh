#!/usr/bin/env bash
# Starts Matrix Synapse (from PyPI, in target/synapse-venv) on 127.0.0.1:PORT against the
# PostgreSQL whose Unix socket directory is PGHOST, in its own database `synapse`, and prints its
# pid. Usage: benches/peers/synapse/start.sh WORKDIR PGHOST PORT
set -euo pipefail
work="$1"; pghost="$2"; port="$3"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="$root/target/synapse-venv"
# Pinned, so every report measures the same Synapse (the newest release when this peer was set up).
synapse_version=1.163.2
if [ ! -x "$venv/bin/python" ] ||
   [ "$("$venv/bin/python" -c 'import psycopg2, importlib.metadata as m; print(m.version("matrix-synapse"))' 2>/dev/null)" != "$synapse_version" ]; then
  echo "installing matrix-synapse $synapse_version from PyPI into $venv" >&2
  python3 -m venv "$venv"
  # psycopg2-binary provides the `psycopg2` module without building against libpq.
  "$venv/bin/pip" install -q "matrix-synapse==$synapse_version" "psycopg2-binary==2.9.13" >&2
fi
mkdir -p "$work/media"
# Synapse requires C collation and ctype.
psql -h "$pghost" -U parley -d postgres -qAtc "SELECT 1 FROM pg_database WHERE datname = 'synapse'" | grep -q 1 ||
  psql -h "$pghost" -U parley -d postgres -qc \
    "CREATE DATABASE synapse ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >&2
sed -e "s|@WORK@|$work|g" -e "s|@PGHOST@|$pghost|g" -e "s|@PORT@|$port|g" \
  "$here/homeserver.yaml.in" > "$work/homeserver.yaml"
cat > "$work/log.config" <<LOG
version: 1
formatters: {plain: {format: "%(asctime)s %(levelname)s %(name)s %(message)s"}}
handlers: {file: {class: logging.FileHandler, filename: "$work/homeserver.log", formatter: plain}}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
LOG
"$venv/bin/python" -m synapse.app.homeserver -c "$work/homeserver.yaml" --generate-keys >&2
"$venv/bin/python" -m synapse.app.homeserver -c "$work/homeserver.yaml" >"$work/stdout.log" 2>&1 &
echo $!
