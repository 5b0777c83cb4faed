#!/bin/sh
# Writes the secret files deploy/compose.yaml mounts (default: deploy/secrets/), each only if missing:
# tokenhub_store_key (32 random bytes, base64), tokenhub_app_key, tokenhub_ops_key, redis_password,
# and redis_acl (the Redis users: tokenhub by the SHA-256 of redis_password, and an anonymous
# default user that may only PING, for the health check). feishu_app_secret is the platform's:
# write it yourself (printf %s 'SECRET' > deploy/secrets/feishu_app_secret).
set -eu
dir=${1:-$(dirname "$0")/secrets}
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random() { # $1 bytes, base64url without padding (safe in a redis:// URL)
  head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'
}
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi | cut -d ' ' -f 1
}
write() { # $1 name, stdin the content
  if [ -e "$dir/$1" ]; then
    echo "make-secrets.sh: $dir/$1 exists, kept"
    cat >/dev/null
  else
    cat >"$dir/$1"
    echo "make-secrets.sh: $dir/$1 written"
  fi
}

head -c 32 /dev/urandom | base64 | write tokenhub_store_key
random 24 | write tokenhub_app_key
random 24 | write tokenhub_ops_key
random 32 | write redis_password
password=$(cat "$dir/redis_password")
write redis_acl <<ACL
user default on nopass resetchannels -@all +ping
user tokenhub on #$(printf %s "$password" | sha256) resetkeys ~tokenhub:* resetchannels &tokenhub:* -@all +@read +@write +@scripting +@pubsub +@connection +scan +info
ACL
# The containers (other users than yours) read them through single-file bind mounts, which do
# not see this directory's 0700: the directory is what keeps the files from other local users.
chmod 0644 "$dir"/*
[ -e "$dir/feishu_app_secret" ] || echo "make-secrets.sh: now write the app's secret to $dir/feishu_app_secret"
