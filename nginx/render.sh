#!/bin/sh
# Renders nginx.conf and junction.conf into a prefix directory that nginx can run from:
#
#   nginx/render.sh PREFIX LISTEN UPSTREAM...
#   nginx/render.sh /srv/junction-front 8080 10.0.0.11:8080 10.0.0.12:8080
#   nginx -p /srv/junction-front -c /srv/junction-front/nginx.conf -e logs/error.log -g 'daemon off;'
#
# LISTEN is anything nginx's `listen` accepts (8080, 127.0.0.1:8080); each UPSTREAM is a
# Junction instance as host:port. Re-run it and send nginx SIGHUP (nginx -s reload) to
# change the instances without dropping a request.
set -eu

usage () { echo "usage: $0 PREFIX LISTEN HOST:PORT [HOST:PORT...]" >&2; exit 2; }
[ $# -ge 3 ] || usage
prefix=$1
listen=$2
shift 2

# Only characters that can appear in an address: nothing that could break out of sed or
# inject nginx directives.
check () {
  case $1 in
    ''|*[!A-Za-z0-9.:_\[\]-]*) echo "$0: bad $2: '$1'" >&2; exit 2 ;;
  esac
}
check "$listen" LISTEN

servers=''
for upstream in "$@"; do
  check "$upstream" UPSTREAM
  servers="${servers}server $upstream max_fails=1 fail_timeout=10s; "
done

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$prefix/logs" "$prefix/tmp"
cp "$here/nginx.conf" "$prefix/nginx.conf.new"
sed -e "s|^\\( *\\)listen __LISTEN__;\$|\\1listen $listen;|" \
    -e "s|^\\( *\\)__JUNCTION_UPSTREAMS__\$|\\1$servers|" "$here/junction.conf" > "$prefix/junction.conf.new"
# Replace both only once both are written, so a reload never reads half a config.
mv "$prefix/nginx.conf.new" "$prefix/nginx.conf"
mv "$prefix/junction.conf.new" "$prefix/junction.conf"
