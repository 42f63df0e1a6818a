# Sourced by bench/generator.sh and bench/scaling.sh (not run on its own): the reference
# tools, nginx as a fast static "S3" on loopback, and the CPU its workers use.
#
#   bench_tools wrk oha           # installs what is missing: nginx and wrk (apt), oha (cargo)
#   nginx_start DIR PORT CORES WORKERS OBJECT_BYTES TLS
#                                 # sets nginx_pid, nginx_workers, scheme, curl_ca,
#                                 # tls_ca (the CA file, empty without TLS); DIR is removed by
#                                 # the caller; nginx_stop ends it
#   get_scenario DURATION CONNECTIONS CONNECTION URL [TLS_CA]
#                                 # prints gatebench's scenario: closed-loop signed GETs of
#                                 # the one 4 KiB object for DURATION s, 1 s of warm-up
#   nginx_ticks                   # utime+stime of all nginx workers, in clock ticks
#   sample_cpu SKIP WINDOW FILE   # after SKIP s, over WINDOW s: nginx's ticks, the seconds and
#                                 # the machine's idle ticks (all cores) into FILE as
#                                 # "ticks seconds idle" (run beside a generator in the background)
#
# NGINX_SENDFILE (default off) is nginx's sendfile setting.
# OHA_VERSION (default 1.16.0, builds on rustc 1.95) is what `cargo install` builds.

OHA_VERSION=${OHA_VERSION:-1.16.0}
CLK_TCK=$(getconf CLK_TCK)

bench_tools() {
  local tool apt=0
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || apt=1
  for tool in "$@"; do
    if [[ "$tool" == wrk ]] && ! command -v wrk >/dev/null; then apt=1; fi
  done
  if [[ "$apt" == 1 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light wrk >/dev/null
  fi
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  for tool in "$@"; do
    if [[ "$tool" == oha ]]; then
      OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
      if [[ ! -x "$OHA" ]]; then
        cargo install oha --locked --version "$OHA_VERSION" --quiet
      fi
    fi
  done
}

nginx_start() {
  local dir=$1 port=$2 cores=$3 workers=$4 object_bytes=$5 tls=$6
  local listen="127.0.0.1:$port" tls_conf="" reuseport=""
  scheme=http curl_ca=() tls_ca=""
  if [[ "$tls" == 1 ]]; then
    # A CA and a leaf for 127.0.0.1 (the same kind of chain a real gateway presents).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
      -keyout "$dir/key.pem" -out "$dir/leaf.csr" 2>/dev/null
    openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -days 2 \
      -extfile <(printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE') -out "$dir/cert.pem" 2>/dev/null
    chmod 644 "$dir"/*.pem
    scheme=https listen="$listen ssl"
    tls_conf="ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem; ssl_protocols TLSv1.3;"
    tls_ca="$dir/ca.pem"
    curl_ca=(--cacert "$tls_ca")
  fi
  # More than one worker: the kernel spreads connections over them (SO_REUSEPORT).
  if (( workers > 1 )); then reuseport=" reuseport"; fi
  mkdir -p "$dir/www" "$dir/logs"
  chmod 755 "$dir"   # nginx workers run as www-data
  head -c "$object_bytes" /dev/urandom > "$dir/www/object"
  # Every GET/HEAD answers the same object, PUT 200.
  cat > "$dir/nginx.conf" <<CONF
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  # Keep the object's file open: without this nginx opens, stats and closes it on every
  # request and its core, not the generator, sets the ceiling.
  open_file_cache max=16 inactive=600s;
  open_file_cache_valid 600s;
  # NGINX_SENDFILE=on lets the kernel send the file (cheaper for large objects; for 4 KiB
  # it measured no cheaper here, 9.5-13 µs of nginx CPU a request either way).
  sendfile ${NGINX_SENDFILE:-off};
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen $listen$reuseport;
    $tls_conf
    root $dir/www;
    location / {
      if (\$request_method = PUT) { return 200; }
      try_files /object =404;
    }
  }
}
CONF
  taskset -c "$cores" "$NGINX" -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;' &
  nginx_pid=$!
  for _ in $(seq 50); do
    curl -sf "${curl_ca[@]}" -o /dev/null "$scheme://127.0.0.1:$port/bench/obj" && break
    sleep 0.1
  done
  kill -0 "$nginx_pid" || { echo "nginx did not start: $(cat "$dir/logs/error.log")" >&2; return 1; }
  # The list has no final newline, so read reports end of file.
  read -r -a nginx_workers < "/proc/$nginx_pid/task/$nginx_pid/children" || true
  if (( ${#nginx_workers[@]} != workers )); then
    echo "nginx started ${#nginx_workers[@]} workers, expected $workers" >&2
    return 1
  fi
}

get_scenario() {
  local duration=$1 connections=$2 connection=$3 endpoint=$4 ca=${5:-} tls_target=""
  if [[ -n "$ca" ]]; then tls_target="tls = { ca_file = \"$ca\" }"; fi
  cat <<TOML
name = "generator-bench"
[run]
duration = "${duration}s"
warmup = "1s"
connection = "$connection"
[load]
executor = "closed-loop"
concurrency = $connections
[data]
buckets = ["bench"]
objects = 1
size = "4KiB"
[mix]
get = 1
[targets.nginx]
kind = "s3"
endpoint = "$endpoint"
access_key = "bench"
secret_key = "bench-secret"
$tls_target
TOML
}

nginx_stop() {
  if [[ -n "${nginx_pid:-}" ]] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true
  fi
}

nginx_ticks() {
  local pid total=0 fields
  for pid in "${nginx_workers[@]}"; do
    # Fields 14 and 15 of /proc/PID/stat (utime, stime); the name in field 2 has no spaces.
    read -r -a fields < "/proc/$pid/stat"
    total=$(( total + fields[13] + fields[14] ))
  done
  echo "$total"
}

idle_ticks() {
  local name user nice system idle iowait rest
  read -r name user nice system idle iowait rest < /proc/stat
  echo $(( idle + iowait ))
}

sample_cpu() {
  local skip=$1 window=$2 file=$3 before after idle0 idle1 t0 t1
  sleep "$skip"
  before=$(nginx_ticks); idle0=$(idle_ticks); t0=$(date +%s.%N)
  sleep "$window"
  after=$(nginx_ticks); idle1=$(idle_ticks); t1=$(date +%s.%N)
  echo "$(( after - before )) $(awk "BEGIN { print $t1 - $t0 }") $(( idle1 - idle0 ))" > "$file"
}
