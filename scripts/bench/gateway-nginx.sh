#!/usr/bin/env bash
# Runs gateway's BenchmarkVsReverseProxy with nginx as a third proxy beside the bare
# httputil.ReverseProxy and the Tianshu gateway, all to the same loopback upstream in one run.
#
# nginx is Debian's package (nginx-light, else nginx), installed with apt-get when missing;
# no test needs it. It runs in the foreground of this script as the current user, not as a
# system service: prefix, configuration, pid file, temp directories and logs all live in a
# temporary directory removed at the end, and it is stopped by its pid when the script exits.
# Its configuration is a production-like reverse proxy: worker processes as many as CPUs,
# HTTP/1.1 keep-alive to the upstream (a pool of idle connections per worker), the
# X-Forwarded-* headers the Go proxies set too, and an access log line per request in
# nginx's combined format, buffered as production set-ups do (64 KB, flushed each second).
# It verifies no JWT (open-source nginx cannot), so against the gateway it is a plain proxy.
#
# The upstream is the benchmark's own: the script picks two free loopback ports, writes
# nginx's configuration to proxy one (the upstream's, TIANSHU_BENCH_UPSTREAM) and listen on
# the other (TIANSHU_BENCH_NGINX), and the benchmark listens on the first.
#
# Beside nginx, the gateway runs twice: in the benchmark's process, as the bare proxy does,
# and as the command tianshu-gateway built here (TIANSHU_BENCH_GATEWAY_BIN), a process of
# its own with its access log written to a file, as nginx is: on a machine with few cores
# that other work shares, a proxy in a process of its own gets its own share of the CPU,
# so out-of-process is compared with out-of-process.
#
# Usage: bash scripts/bench/gateway-nginx.sh [go test flags...]
#        (default: the latency part for 20000 turns, then the throughput part for 10
#         rounds, as docs/benchmarks.md runs them; flags given replace both, e.g.
#         -run XXX -bench 'BenchmarkVsReverseProxy/latency' -benchtime 2000x)
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
	echo "nginx is missing: installing Debian's nginx-light with apt-get" >&2
	sudo=()
	[ "$(id -u)" -ne 0 ] && sudo=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get install -y --no-install-recommends nginx-light ||
		"${sudo[@]}" apt-get install -y --no-install-recommends nginx
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# Two free loopback ports, asked of the kernel and released at once: the race with another
# process taking one in between is harmless here (nginx or the benchmark then fails to
# listen, and says so).
read -r up_port nginx_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

dir="$(mktemp -d)"
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

user_line=""
# A master started as root switches its workers to "nobody" unless told otherwise; keep
# them as the current user, so that they read and write only what this user owns.
[ "$(id -u)" -eq 0 ] && user_line="user $(id -un) $(id -gn);"

cat >"$dir/nginx.conf" <<CONF
$user_line
daemon off;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
	client_body_temp_path $dir/client_body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	access_log $dir/access.log combined buffer=64k flush=1s;
	keepalive_requests 100000;
	upstream bench {
		server 127.0.0.1:$up_port;
		keepalive 256;
	}
	server {
		listen 127.0.0.1:$nginx_port;
		location / {
			proxy_pass http://bench;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Host \$host;
			proxy_set_header X-Forwarded-Proto \$scheme;
		}
	}
}
CONF

"$NGINX" -p "$dir" -c "$dir/nginx.conf" -t -q
"$NGINX" -p "$dir" -c "$dir/nginx.conf" &
pid=$!
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$nginx_port") 2>/dev/null; then break; fi
	sleep 0.1
done
echo "$("$NGINX" -v 2>&1) on 127.0.0.1:$nginx_port -> upstream 127.0.0.1:$up_port; $(nproc) CPUs; load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

go build -o "$dir/tianshu-gateway" ./cmd/tianshu-gateway
bench() {
	TIANSHU_BENCH_GATEWAY_BIN="$dir/tianshu-gateway" TIANSHU_BENCH_NGINX="127.0.0.1:$nginx_port" TIANSHU_BENCH_UPSTREAM="127.0.0.1:$up_port" \
		go test -count=1 "$@" ./gateway/
}
if [ $# -gt 0 ]; then
	bench "$@"
else
	bench -run XXX -bench 'BenchmarkVsReverseProxy/latency' -benchtime 20000x
	bench -run XXX -bench 'BenchmarkVsReverseProxy/throughput' -benchtime 10x
fi
sleep 2 # the access log's buffer is flushed each second
echo "nginx access log: $(wc -l <"$dir/access.log") lines; load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
