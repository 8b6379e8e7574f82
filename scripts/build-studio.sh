#!/usr/bin/env bash
# Rebuild the studio's editor bundle, studio/static/studio.js, from studio/web/ byte for byte:
# `npm ci` installs exactly the versions in package-lock.json, and esbuild (pinned there
# too) writes the same output for the same input. `make test` needs none of this: the bundle
# is committed. With --check, build into a temporary file and fail if it differs from the
# committed one.
set -euo pipefail
cd "$(dirname "$0")/../studio/web"
npm ci --no-audit --no-fund --ignore-scripts >/dev/null
out=../static/studio.js
if [[ "${1:-}" == "--check" ]]; then
  out=$(mktemp --suffix=.js)
fi
./node_modules/.bin/esbuild src/main.js --bundle --format=esm --target=es2020 --minify \
  --legal-comments=eof --charset=utf8 --log-level=warning --outfile="$out"
if [[ "${1:-}" == "--check" ]]; then
  if cmp -s "$out" ../static/studio.js; then
    echo "studio/static/studio.js is reproducible"
  else
    echo "studio/static/studio.js differs from a fresh build of studio/web" >&2
    exit 1
  fi
fi
