# Sourced by scripts/demo.sh and bench/downtime.sh: a throwaway PostgreSQL pair
# behind HAProxy (TCP mode) and behind PgBouncer (transaction pooling) on
# loopback ports, with pgbench data and an `app` role that reaches the
# database only through one of them.
#   sandbox_up DIR SCALE   → exports OLD_PORT NEW_PORT APP_PORT SOURCE_URL
#                            TARGET_URL APP_URL APP_ROLE HAPROXY_SOCKET
#                            PGB_PORT PGB_URL PGBOUNCER_ADMIN PGBOUNCER_INI
#                            PGBOUNCER_DB TARGET_HOST TARGET_PORT
#   sandbox_down DIR
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# initdb and postgres refuse to run as root: use the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

sandbox_up() {
  local dir=$1 scale=${2:-5}
  rm -rf "$dir" 2>/dev/null || { sleep 1; rm -rf "$dir"; }
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  OLD_PORT=$(free_port); NEW_PORT=$(free_port); APP_PORT=$(free_port)
  local c name port
  for c in old:$OLD_PORT new:$NEW_PORT; do
    name=${c%%:*}; port=${c##*:}
    as_pg "$PGBIN/initdb" -D "$dir/$name" -A trust -U postgres >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$dir/$name" -l "$dir/$name.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_connections=60" start >/dev/null
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE shop" -c "CREATE ROLE app LOGIN" >/dev/null
  done
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$OLD_PORT" -U postgres shop >"$dir/pgbench-init.log" 2>&1
  "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$OLD_PORT" -U postgres -d shop \
    -c "CREATE TABLE probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())" \
    -c "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app" \
    -c "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app" \
    -c "GRANT CREATE ON SCHEMA public TO app" >/dev/null
  cat > "$dir/haproxy.cfg" <<CFG
global
  stats socket $dir/haproxy.sock mode 600 level admin
defaults
  mode tcp
  timeout connect 2s
  timeout client 10m
  timeout server 10m
frontend pg
  bind 127.0.0.1:$APP_PORT
  default_backend db
backend db
  server old 127.0.0.1:$OLD_PORT
  server new 127.0.0.1:$NEW_PORT disabled
CFG
  haproxy -D -p "$dir/haproxy.pid" -f "$dir/haproxy.cfg"
  PGB_PORT=$(free_port)
  printf '"app" ""\n"postgres" ""\n"admin" ""\n' > "$dir/userlist.txt"
  cat > "$dir/pgbouncer.ini" <<INI
[databases]
shop = host=127.0.0.1 port=$OLD_PORT dbname=shop

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = admin
pool_mode = transaction
default_pool_size = 10
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  # PgBouncer refuses to run as root: it switches to `postgres` itself.
  [ "$(id -u)" = 0 ] && echo "user = postgres" >> "$dir/pgbouncer.ini"
  pgbouncer -d "$dir/pgbouncer.ini"
  # -d returns before it listens.
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PGB_PORT") 2>/dev/null && break; sleep 0.05; done
  export PGB_PORT PGB_URL="postgres://app@127.0.0.1:$PGB_PORT/shop"
  export PGBOUNCER_ADMIN="postgres://admin@127.0.0.1:$PGB_PORT/pgbouncer"
  export PGBOUNCER_INI=$dir/pgbouncer.ini PGBOUNCER_DB=shop TARGET_HOST=127.0.0.1 TARGET_PORT=$NEW_PORT
  export OLD_PORT NEW_PORT APP_PORT APP_ROLE=app HAPROXY_SOCKET=$dir/haproxy.sock
  export SOURCE_URL="postgres://postgres@127.0.0.1:$OLD_PORT/shop"
  export TARGET_URL="postgres://postgres@127.0.0.1:$NEW_PORT/shop"
  export APP_URL="postgres://app@127.0.0.1:$APP_PORT/shop"
}

sandbox_down() {
  local dir=$1 c
  for c in old new; do [ -d "$dir/$c" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/$c" -m immediate stop >/dev/null 2>&1; done
  [ -f "$dir/haproxy.pid" ] && kill "$(cat "$dir/haproxy.pid")" 2>/dev/null
  if [ -f "$dir/pgbouncer.pid" ]; then
    local pid; pid=$(cat "$dir/pgbouncer.pid")
    kill "$pid" 2>/dev/null
    # It may still write its log: the next sandbox must find the directory gone.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  return 0
}
