#!/usr/bin/env bash
# Rebuilds src/sar/page/noble.js, the vendored cryptography of the subject access page, from the
# exact versions pinned in package.json and package-lock.json (npm ci checks every package's
# integrity hash). Not run by CI or cargo: the committed output is what ships; rerun this only to
# change versions, and commit the output with package.json and package-lock.json.
# Needs node (20.19 or newer) and npm with the npm registry.
set -euo pipefail
cd "$(dirname "$0")"
out=../../src/sar/page/noble.js

npm ci --ignore-scripts --no-audit --no-fund
# esbuild's binary comes in its platform package (@esbuild/<os>-<cpu>); --ignore-scripts skips
# only its install-time check, so check that the binary runs.
esbuild=./node_modules/.bin/esbuild
"$esbuild" --version >/dev/null

hashes=$(node -p 'require("./node_modules/@noble/hashes/package.json").version')
curves=$(node -p 'require("./node_modules/@noble/curves/package.json").version')
esb=$("$esbuild" --version)

body=$(mktemp)
trap 'rm -f "$body"' EXIT
# A classic script (IIFE): no import, no export, no network; ES2020 for BigInt.
"$esbuild" entry.js --bundle --format=iife --platform=browser --target=es2020 \
  --legal-comments=none --charset=ascii --log-level=warning --outfile="$body"

{
  cat <<HEADER
/*! withusNoble: vendored cryptography for the withus subject access page. GENERATED, do not edit.
 *  @noble/hashes ${hashes} (MIT, (c) Paul Miller, https://paulmillr.com/noble/)
 *  @noble/curves ${curves} (MIT, (c) Paul Miller, https://paulmillr.com/noble/)
 *  bundled by esbuild ${esb} (MIT) with: tools/sar-page/build.sh
 *  (npm ci, then esbuild entry.js --bundle --format=iife --platform=browser --target=es2020
 *   --legal-comments=none --charset=ascii)
 *  Exposes window.withusNoble = { blake3, sha256, ed25519: { verify } }.
 *
 *  Licence of both packages (their LICENSE files are identical):
 *
HEADER
  # MIT asks for the notice in every copy; kept ASCII like the rest of the file.
  if ! cmp -s node_modules/@noble/hashes/LICENSE node_modules/@noble/curves/LICENSE; then
    echo "build.sh: the two LICENSE files differ; include both" >&2
    exit 1
  fi
  sed -e 's/\xe2\x80\x9c/"/g; s/\xe2\x80\x9d/"/g; s/^/ *  /; s/ *$//' node_modules/@noble/hashes/LICENSE | awk "{ print }"
  echo ' */'
  cat "$body"
} > "$out"

# The page inlines this file in a <script> element: it must not be able to end it early.
if grep -qiE '</script|<!--' "$out"; then
  echo "build.sh: $out contains '</script' or '<!--'; it cannot be inlined" >&2
  exit 1
fi
echo "wrote $out ($(wc -c < "$out") bytes): @noble/hashes $hashes, @noble/curves $curves, esbuild $esb"
