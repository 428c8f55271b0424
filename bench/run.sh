#!/usr/bin/env bash
# bench/run.sh: bascule (one worker) against nginx (one worker) as reverse proxies of the same nginx upstream,
# on 127.0.0.1, free ports, and prints a markdown table (req/s, p50, p99, errors, the CPU other processes
# took during the run, ratio to nginx per path).
# See bench/README.md. Knobs (environment, defaults in brackets):
#   DURATION [10s]  WARMUP [2s]  CONNS [64]  THREADS [1]  ROUNDS [1] (median round by req/s is reported)
#   LOAD_CPU [0]  PROXY_CPU [1]    taskset CPU lists for wrk + upstream / for the proxies; empty = no pinning
#   BASCULE [<checkout>/.venv/bin/bascule]   the gateway executable
#   PROXY_CMD    shell command run instead of bascule; it must serve http://127.0.0.1:$BASCULE_PORT/ by
#                proxying to http://127.0.0.1:$UPSTREAM_PORT (both exported, with BENCH_DIR, the work dir)
#   PROXY_LABEL  the name PROXY_CMD gets in the table [custom]
#   SELFTEST=1   runs a second nginx proxy in bascule's place (checks the harness: ratio ~1.0)
#   STARTUP_TIMEOUT [30] seconds a server gets to answer;  RESULTS=DIR  also keep table + raw wrk output there
#   KEEP=1       keep the temporary work dir (configs, logs, raw output)
# Exit status: 0 when every run produced a result, 1 otherwise (missing tool, server down, wrk failure).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-1}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-30}
LOAD_CPU=${LOAD_CPU-0}
PROXY_CPU=${PROXY_CPU-1}

die() {
  echo "bench: $*" >&2
  exit 1
}
find_bin() {
  command -v "$1" 2>/dev/null && return 0
  [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"
}
# "10s", "2m", "1h" or plain seconds -> seconds (wrk's duration syntax).
to_seconds() {
  awk -v d="$1" 'BEGIN { n = d; u = "s"; if (d ~ /[smh]$/) { u = substr(d, length(d)); n = substr(d, 1, length(d) - 1) }
                         if (n !~ /^[0-9]+$/) exit 1; print n * (u == "m" ? 60 : u == "h" ? 3600 : 1) }'
}

NGINX=$(find_bin nginx) || NGINX=
WRK=$(find_bin wrk) || WRK=
if [ -z "$NGINX" ] || [ -z "$WRK" ]; then
  missing=$([ -z "$NGINX" ] && printf ' nginx'; [ -z "$WRK" ] && printf ' wrk')
  echo "bench: needs nginx and wrk; missing:$missing" >&2
  echo "bench: install them with: apt-get install -y nginx-light wrk" >&2
  exit 1
fi
for bin in curl python3 taskset setsid timeout; do
  command -v "$bin" >/dev/null 2>&1 || die "needs $bin (apt-get install -y curl python3 util-linux coreutils)"
done
dur_s=$(to_seconds "$DURATION") || die "DURATION=$DURATION is not like 10s, 2m or 30"
if [ "$WARMUP" = 0 ]; then warm_s=0; else warm_s=$(to_seconds "$WARMUP") || die "WARMUP=$WARMUP is not like 2s"; fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS must be a positive integer"

if [ "$(nproc)" -lt 2 ] && [ -n "$LOAD_CPU$PROXY_CPU" ]; then
  echo "bench: warning: $(nproc) CPU only, running unpinned (numbers will be pessimistic for both)" >&2
  LOAD_CPU='' PROXY_CPU=''
fi
load_pin=()
[ -n "$LOAD_CPU" ] && load_pin=(taskset -c "$LOAD_CPU")

if [ "${SELFTEST:-0}" = 1 ]; then
  label=${PROXY_LABEL:-nginx-selftest}
elif [ -n "${PROXY_CMD:-}" ]; then
  label=${PROXY_LABEL:-custom}
else
  label=bascule
  BASCULE=${BASCULE:-$root/.venv/bin/bascule}
  [ -x "$BASCULE" ] || die "no bascule at $BASCULE: run scripts/run or scripts/test once (they create .venv), or set BASCULE=/path/to/bascule"
fi

if [ -n "${RESULTS:-}" ]; then
  mkdir -p "$RESULTS" || die "cannot create RESULTS=$RESULTS"
  RESULTS=$(cd "$RESULTS" && pwd)
fi

# --- work dir, processes, cleanup ------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/bascule-bench.XXXXXX") || die "mktemp failed"
pids=() # process-group leaders we started (each server runs in its own session via setsid)

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local p
  trap - EXIT INT TERM
  [ -n "${load_pid:-}" ] && kill -TERM "$load_pid" 2>/dev/null # a wrk run (via timeout, which passes it on)
  if [ "${#pids[@]}" -gt 0 ]; then
    for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
    # watchdog: whatever has not exited 5 s after TERM gets KILL
    # shellcheck disable=SC2016  # $@ and $g belong to the inner shell
    setsid bash -c 'sleep 5; for g in "$@"; do kill -KILL -- "-$g" 2>/dev/null; done' _ "${pids[@]}" &
    local wd=$!
    wait "${pids[@]}" 2>/dev/null
    kill -TERM -- "-$wd" 2>/dev/null
    wait "$wd" 2>/dev/null
    for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done # stragglers whose leader is gone
  fi
  cd / || return
  if [ "${KEEP:-0}" = 1 ]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work" # nginx workers run as another user when started by root: they must read www/
mkdir -p "$work"/{logs,tmp,www,apps,raw}
cd "$work" || die "cannot enter $work"

# start NAME CPU CMD...: starts CMD (pinned to CPU unless empty) in its own session, in the work dir, and
# remembers its pid, which is also its process group: cleanup stops the whole group.
start() {
  local name=$1 cpu=$2 pin=()
  shift 2
  [ -n "$cpu" ] && pin=(taskset -c "$cpu")
  setsid "${pin[@]}" "$@" >"$work/logs/$name.out" 2>&1 </dev/null &
  pids+=("$!")
  last_pid=$!
}
running() {
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $s != Z* ]]
}
wait_http() { # NAME PORT PID
  local name=$1 port=$2 pid=$3 deadline=$((SECONDS + STARTUP_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! running "$pid"; then
      echo "bench: $name exited during startup; its output:" >&2
      tail -n 20 "$work/logs/$name".* >&2
      return 1
    fi
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" && return 0
    sleep 0.2
  done
  echo "bench: $name did not answer on 127.0.0.1:$port within ${STARTUP_TIMEOUT}s; its output:" >&2
  tail -n 20 "$work/logs/$name".* >&2
  return 1
}

read -r up_port nginx_port proxy_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
') || die "could not find free ports"
export UPSTREAM_PORT=$up_port BASCULE_PORT=$proxy_port BENCH_DIR=$work

# --- configs ---------------------------------------------------------------------------------------------
head -c 65536 /dev/urandom >"$work/www/64k"
nginx_head() { # NAME: the common top of every nginx config here (one worker, foreground, files in $work)
  cat <<CONF
daemon off;
worker_processes 1;
pid $work/$1.pid;
error_log $work/logs/$1.err warn;
events { worker_connections 4096; multi_accept on; }
CONF
}
temp_paths() { # NAME
  local t
  for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $work/tmp/$1_$t;"; done
}
{
  nginx_head upstream
  cat <<CONF
http {
    access_log off;
$(temp_paths upstream)
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    open_file_cache max=16 inactive=300s; open_file_cache_valid 300s;
    server {
        listen 127.0.0.1:$up_port backlog=4096;
        location = / { default_type text/plain; return 200 "hello"; }
        location = /64k { default_type application/octet-stream; alias $work/www/64k; }
    }
}
CONF
} >"$work/upstream.conf"

nginx_proxy_conf() { # NAME PORT: nginx as a reverse proxy of the upstream, with upstream keep-alive
  nginx_head "$1"
  cat <<CONF
http {
    access_log off;
$(temp_paths "$1")
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    tcp_nodelay on;
    upstream backend {
        server 127.0.0.1:$up_port;
        keepalive 256;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_buffers 16 16k;
            proxy_buffer_size 16k;
        }
    }
}
CONF
}
nginx_proxy_conf nginx "$nginx_port" >"$work/nginx.conf"

if [ "${SELFTEST:-0}" = 1 ]; then
  nginx_proxy_conf selftest "$proxy_port" >"$work/selftest.conf"
  PROXY_CMD="$NGINX -p $work -e $work/logs/selftest.err -c $work/selftest.conf"
fi
if [ -z "${PROXY_CMD:-}" ]; then
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  cat >"$work/tyk.conf" <<CONF
{
  "listen_address": "127.0.0.1",
  "listen_port": $proxy_port,
  "secret": "$secret",
  "app_path": "$work/apps/",
  "log_level": "warn"
}
CONF
  cat >"$work/apps/bench.json" <<API
{
  "name": "bench", "api_id": "bench", "org_id": "default", "active": true, "use_keyless": true,
  "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } },
  "proxy": { "listen_path": "/", "strip_listen_path": false, "target_url": "http://127.0.0.1:$up_port" }
}
API
fi

# --- start -----------------------------------------------------------------------------------------------
start upstream "$LOAD_CPU" "$NGINX" -p "$work" -e "$work/logs/upstream.err" -c "$work/upstream.conf"
wait_http upstream "$up_port" "$last_pid" || exit 1
start nginx "$PROXY_CPU" "$NGINX" -p "$work" -e "$work/logs/nginx.err" -c "$work/nginx.conf"
wait_http nginx "$nginx_port" "$last_pid" || exit 1
if [ -n "${PROXY_CMD:-}" ]; then
  start "$label" "$PROXY_CPU" bash -c "$PROXY_CMD"
else
  start "$label" "$PROXY_CPU" "$BASCULE" --conf "$work/tyk.conf"
fi
wait_http "$label" "$proxy_port" "$last_pid" || exit 1

# Every target must really proxy before its numbers mean anything.
for t in "nginx:$nginx_port" "$label:$proxy_port"; do
  name=${t%%:*} port=${t##*:}
  small=$(curl -s --max-time 5 "http://127.0.0.1:$port/")
  big=$(curl -s --max-time 5 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/64k")
  [ "$small" = hello ] || die "$name: GET / returned '${small:0:80}', expected 'hello' from the upstream"
  [ "$big" = "200 65536" ] || die "$name: GET /64k returned status/size '$big', expected '200 65536'"
done

# --- measure ---------------------------------------------------------------------------------------------
to_ms() { # wrk latency token (612.00us, 1.23ms, 1.02s, 2.00m) -> ms
  awk -v v="$1" 'BEGIN { n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u)
                         if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
                         printf "%.3f", n }'
}
# load CMD...: runs CMD in the background and waits for it, so that INT/TERM stop the script at once
# (bash runs traps only after a foreground command ends) and cleanup can stop CMD too.
load() {
  "$@" &
  load_pid=$!
  wait "$load_pid"
  load_pid=
}
# Noise gauge: CPU seconds used on the whole machine, minus those of our servers (their process groups) and
# of wrk (our children's CPU time, from `times`), divided by the run's wall time = the cores that other
# processes took while we measured. Prints "now_s machine_busy_s our_servers_s our_children_s".
cpu_snapshot() {
  local children
  times >"$work/times" # not in $(...): a subshell would report its own times
  children=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }; print t }' "$work/times")
  python3 - "$children" "${pids[@]}" <<'PY'
import os, sys, time
children, groups = sys.argv[1], {int(g) for g in sys.argv[2:]}
hz = os.sysconf("SC_CLK_TCK")
v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
busy = v[0] + v[1] + v[2]  # user nice system (not irq/softirq: loopback traffic is charged there, to no process)
ours = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    f = stat[stat.rfind(")") + 2 :].split()  # f[0] = field 3 (state): pgrp = f[2], utime = f[11], stime = f[12]
    if int(f[2]) in groups:
        ours += int(f[11]) + int(f[12])
print(time.monotonic(), busy / hz, ours / hz, children)
PY
}
bench_one() { # NAME PORT PATH ROUND -> appends "name path rps p50 p99 errors other_cores" to $work/rows
  local name=$1 url="http://127.0.0.1:$2$3" raw="$work/raw/$1_${3//\//_}_$4.txt" rps p50 p99 errs non2xx s0 s1 other
  if [ "$warm_s" -gt 0 ]; then
    load timeout $((warm_s + 30)) "${load_pin[@]}" "$WRK" -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$url" >/dev/null 2>&1
  fi
  s0=$(cpu_snapshot)
  # timeout is a safety net only: wrk stops by itself after -d
  load timeout $((dur_s + 30)) "${load_pin[@]}" "$WRK" -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$url" >"$raw" 2>&1
  s1=$(cpu_snapshot)
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$raw")
  if [ -z "$rps" ]; then
    echo "bench: wrk produced no result for $name $url:" >&2
    cat "$raw" >&2
    return 1
  fi
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$raw")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$raw")")
  errs=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$raw")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$raw")
  other=$(echo "$s0 $s1" | awk '{ w = $5 - $1; o = ($6 - $2) - ($7 - $3) - ($8 - $4); if (o < 0) o = 0
                                  printf "%.2f", (w > 0 ? o / w : 0) }')
  echo "$name $3 $rps $p50 $p99 $((${errs:-0} + ${non2xx:-0})) $other" >>"$work/rows"
  printf 'bench: %-14s %-5s round %s: %s req/s, other processes %s cores\n' "$name" "$3" "$4" "$rps" "$other" >&2
}

echo "bench: $(date -u +%FT%TZ) $(nproc) CPUs, $("$NGINX" -v 2>&1 | sed 's/.*: //'), wrk $("$WRK" -v 2>&1 | awk 'NR == 1 { print $2 }'), $label on port $proxy_port; -c $CONNS -t $THREADS -d $DURATION x $ROUNDS round(s), wrk+upstream on CPU ${LOAD_CPU:-any}, proxies on CPU ${PROXY_CPU:-any}" >&2
failed=0
for ((r = 1; r <= ROUNDS; r++)); do
  for path in / /64k; do
    bench_one nginx "$nginx_port" "$path" "$r" || failed=1
    bench_one "$label" "$proxy_port" "$path" "$r" || failed=1
  done
done
[ -s "$work/rows" ] || die "no result at all"

# Median round (by req/s) per target and path, then the table with the ratio to nginx per path.
table=$(awk -v label="$label" '
  { k = $1 SUBSEP $2; n[k]++; row[k, n[k]] = $0 }
  function median(k,   i, j, t, m) {
    m = n[k]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) {
      split(row[k, i], a); split(row[k, j], b)
      if (b[3] + 0 < a[3] + 0) { t = row[k, i]; row[k, i] = row[k, j]; row[k, j] = t }
    }
    return row[k, int((m + 1) / 2)]
  }
  END {
    print "| target | path | requests/s | p50 ms | p99 ms | errors | other CPU | " label "/nginx |"
    print "|---|---|---:|---:|---:|---:|---:|---:|"
    np = split("/ /64k", paths, " ")
    for (p = 1; p <= np; p++) {
      base = 0
      if ((("nginx", paths[p]) in n)) { split(median("nginx" SUBSEP paths[p]), x); base = x[3] }
      for (ti = 1; ti <= 2; ti++) {
        t = ti == 1 ? "nginx" : label
        if (!((t, paths[p]) in n)) continue
        split(median(t SUBSEP paths[p]), x)
        ratio = base > 0 ? sprintf("%.2f", x[3] / base) : "-"
        printf "| %s | %s | %.0f | %.2f | %.2f | %d | %.2f | %s |\n", t, paths[p], x[3], x[4], x[5], x[6], x[7], ratio
        if (x[6] > 0) bad = bad " " t paths[p]
        if (x[7] > noisiest) noisiest = x[7]
      }
    }
    if (bad != "") print "\nWARNING: socket errors or non-2xx responses for:" bad " (their numbers are not comparable)"
    if (noisiest > 0.3) printf "\nWARNING: other processes used up to %.2f cores during a run: the numbers are noisy; " \
                               "rerun on a quiet machine, or with ROUNDS=3\n", noisiest
  }' "$work/rows")
echo
echo "$table"

if [ -n "${RESULTS:-}" ]; then
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$RESULTS/$stamp" && cp -r "$work/raw" "$work/rows" "$RESULTS/$stamp/" && echo "$table" >"$RESULTS/$stamp/table.md" &&
    echo "bench: results kept in $RESULTS/$stamp" >&2
fi
exit "$failed"
