#!/bin/sh
# The image's install step (deploy/Dockerfile), which test/deploy/image.test.ts runs as it is, and
# the install for the systemd unit: the packed server with its production dependencies only, into
# PREFIX (bin/tokenhub, bin/tokenhub-start, bin/tokenhub-healthcheck, lib/node_modules/tokenhub).
set -eu
tarball=${1:?usage: deploy/install.sh TARBALL PREFIX}
prefix=${2:?usage: deploy/install.sh TARBALL PREFIX}
here=$(cd "$(dirname "$0")" && pwd)

# The tarball has no lock file: the production dependencies resolve within package.json's ranges.
npm install --global --prefix "$prefix" --omit=dev --no-audit --no-fund "$tarball"
install -m 0755 "$here/start.sh" "$prefix/bin/tokenhub-start"
install -m 0755 "$here/healthcheck.js" "$prefix/bin/tokenhub-healthcheck"
# Fails the build when the installed server cannot even load (a dependency missing without dev).
"$prefix/bin/tokenhub" --help >/dev/null
echo "install.sh: tokenhub installed in $prefix"
