#!/usr/bin/env bash
# The web client (web/): `scripts/web.sh build` installs its packages when they are
# missing or the lock file changed and builds web/dist when it is missing or older than a source;
# `scripts/web.sh test` type-checks, runs the unit tests (Vitest) and builds.
set -euo pipefail
cd "$(dirname "$0")/../web"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "web: Node.js $(node --version) is too old; Vite 7 needs 20.19 or newer" >&2
  exit 1
fi

# `npm install --no-save` installs exactly the versions in package-lock.json and never rewrites it.
# Not `npm ci`: the lock file omits Rollup's native packages for other platforms (this registry
# does not list them), and `npm ci` refuses a lock file without them.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm install (web, from package-lock.json)"
  npm install --no-save --no-audit --no-fund --loglevel=error
fi

stale() {
  [ ! -f dist/index.html ] && return 0
  [ -n "$(find src packages public index.html package-lock.json vite.config.ts tsconfig.json -newer dist/index.html -print -quit)" ]
}

case "${1:-build}" in
  build)
    if stale; then
      echo "== building the web client (web/dist)"
      npm run --silent build
    fi
    ;;
  test)
    echo "== web: type check, unit tests (Vitest), build"
    # The REST types are generated from the server's OpenAPI document (test.sh writes it first).
    if [ -f ../target/openapi.json ]; then node scripts/openapi-types.mjs ../target/openapi.json --check; fi
    npx --no-install tsc -p tsconfig.json --noEmit
    npx --no-install vitest run
    npx --no-install vite build --logLevel warn
    ;;
  *)
    echo "usage: scripts/web.sh build|test" >&2
    exit 2
    ;;
esac
