#!/bin/sh
# Runs tokenhub (the image's ENTRYPOINT, the systemd unit's ExecStart) with secrets read from files:
# for each NAME_FILE=/path in the environment, NAME is set to that file's content (a trailing
# newline dropped), so a config's ${NAME} can come from a Docker/compose secret or a systemd
# credential (NAME_FILE=%d/name) instead of an environment variable that `docker inspect` shows.
# Then exec: tokenhub's own signal handling (SIGTERM drains, SIGHUP reloads) runs in this very process.
set -eu

fail() {
  echo "tokenhub-start: $*" >&2
  exit 1
}

for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*/\1/p'); do
  # A line of another variable's multi-line value can look like NAME_FILE=: skip it.
  eval "listed=\${${name}_FILE+set}"
  [ -n "$listed" ] || continue
  eval "file=\${${name}_FILE}"
  eval "already=\${${name}+set}"
  [ -z "$already" ] || fail "both $name and ${name}_FILE are set: give one of them"
  [ -r "$file" ] || fail "${name}_FILE: cannot read $file"
  value=$(cat "$file") || fail "${name}_FILE: cannot read $file"
  export "$name=$value"
  unset "${name}_FILE"
done

[ "$#" -gt 0 ] || set -- serve
exec "$(dirname "$0")/tokenhub" "$@"
