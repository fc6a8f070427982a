# Sourced by the PostgreSQL benchmarks: a pair of throwaway clusters `old`
# and `new` under $WORK (needs PGBIN and WORK), stopped when the script exits.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psql_on() { local port=$1; shift; "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$port" -U postgres "$@"; }

down() {
  local c
  for c in old new; do
    [ -d "$WORK/$c" ] && as_pg "$PGBIN/pg_ctl" -D "$WORK/$c" -m immediate stop >/dev/null 2>&1
  done
  return 0
}
trap down EXIT

# A fresh $WORK and both clusters started: OLD_PORT and NEW_PORT.
start_pair() {
  rm -rf "$WORK" && mkdir -p "$WORK"
  [ "$(id -u)" = 0 ] && chown postgres "$WORK"
  OLD_PORT=$(free_port)
  NEW_PORT=$(free_port)
  local c name port
  for c in old:$OLD_PORT new:$NEW_PORT; do
    name=${c%%:*}
    port=${c##*:}
    as_pg "$PGBIN/initdb" -D "$WORK/$name" -A trust -U postgres >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$WORK/$name" -l "$WORK/$name.log" -w \
      -o "-p $port -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=60 -c max_wal_size=4GB" start >/dev/null
  done
}
