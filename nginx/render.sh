#!/bin/sh
# Renders nginx.conf, junction.conf, junction-proxy.conf and junction-tls.conf into a
# prefix directory that nginx can run from:
#
#   nginx/render.sh PREFIX LISTEN UPSTREAM...
#   nginx/render.sh /srv/junction-front 8080 10.0.0.11:8080 10.0.0.12:8080
#   nginx -p /srv/junction-front -c /srv/junction-front/nginx.conf -e logs/error.log -g 'daemon off;'
#
# HTTPS as well: set TLS_LISTEN, TLS_CERT and TLS_KEY (absolute paths to PEM files):
#
#   TLS_LISTEN=8443 TLS_CERT=/etc/junction/tls/cert.pem TLS_KEY=/etc/junction/tls/key.pem \
#     nginx/render.sh /srv/junction-front 8080 10.0.0.11:8080 10.0.0.12:8080
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

tls_listen=${TLS_LISTEN:-}
tls_cert=${TLS_CERT:-}
tls_key=${TLS_KEY:-}
if [ -n "$tls_listen$tls_cert$tls_key" ]; then
  if [ -z "$tls_listen" ] || [ -z "$tls_cert" ] || [ -z "$tls_key" ]; then
    echo "$0: HTTPS needs all of TLS_LISTEN, TLS_CERT and TLS_KEY" >&2; exit 2
  fi
  check "$tls_listen" TLS_LISTEN
  # Paths: absolute, and only characters that cannot break out of sed or nginx syntax.
  for path in "$tls_cert" "$tls_key"; do
    case $path in
      /*) ;;
      *) echo "$0: TLS_CERT and TLS_KEY must be absolute paths: '$path'" >&2; exit 2 ;;
    esac
    case $path in
      *[!A-Za-z0-9./_-]*) echo "$0: bad TLS path: '$path'" >&2; exit 2 ;;
    esac
    [ -r "$path" ] || { echo "$0: cannot read '$path'" >&2; exit 2; }
  done
fi

servers=''
for upstream in "$@"; do
  check "$upstream" UPSTREAM
  servers="${servers}server $upstream max_fails=1 fail_timeout=10s; "
done

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$prefix/logs" "$prefix/tmp"
cp "$here/nginx.conf" "$prefix/nginx.conf.new"
cp "$here/junction-proxy.conf" "$prefix/junction-proxy.conf.new"
sed -e "s|^\\( *\\)listen __LISTEN__;\$|\\1listen $listen;|" \
    -e "s|^\\( *\\)__JUNCTION_UPSTREAMS__\$|\\1$servers|" "$here/junction.conf" > "$prefix/junction.conf.new"
if [ -n "$tls_listen" ]; then
  sed -e "s|__TLS_LISTEN__|$tls_listen|" -e "s|__TLS_CERT__|$tls_cert|" -e "s|__TLS_KEY__|$tls_key|" \
    "$here/junction-tls.conf.template" > "$prefix/junction-tls.conf.new"
else
  echo '# No HTTPS server: render.sh was run without TLS_LISTEN, TLS_CERT and TLS_KEY.' > "$prefix/junction-tls.conf.new"
fi
# Replace them only once all are written, so a reload never reads half a config.
for f in nginx.conf junction-proxy.conf junction-tls.conf junction.conf; do
  mv "$prefix/$f.new" "$prefix/$f"
done
