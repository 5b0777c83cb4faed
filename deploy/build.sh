#!/bin/sh
# The image's build step (deploy/Dockerfile), which test/deploy/image.test.ts runs as it is:
# every dependency from the lock file, the build, and the server packed as OUT_DIR/tokenhub.tgz.
# Run it in a clean copy of the source tree (no node_modules, no dist).
set -eu
out=${1:?usage: deploy/build.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."

# No dependency's install script runs: the build needs none (tsc only), and none gets to run here.
npm ci --ignore-scripts --no-audit --no-fund
# npm pack runs the package's own build (its prepack/prepare script) before packing.
rm -f "$out"/*.tgz
npm pack --pack-destination "$out" >/dev/null
set -- "$out"/*.tgz
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
  echo "build.sh: npm pack wrote no single tarball into $out" >&2
  exit 1
fi
mv "$1" "$out/tokenhub.tgz"
echo "build.sh: $out/tokenhub.tgz"
