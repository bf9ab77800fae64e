#!/usr/bin/env bash
# pages-bench.sh — the status pages and /metrics with 1,000 jobs in the history, and whether
# a browser tab following a live log slows the cache: size and time of `GET /` and of a job
# page, `/metrics` scrape time (wrk, one connection, so each figure is one request's time),
# then narinfo requests/s (wrk -c32) with and without a headless Chromium tab on the page of
# a running job whose log grows by a line every 0.1 s, alternating runs so drift hits both.
# Needs Nix, git, curl, wrk, chromium. BENCH_JOBS=N (default 1000), BENCH_RUNS=N (default 3).
#   bench/pages-bench.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${BENCH_JOBS:-1000}
runs=${BENCH_RUNS:-3}
(cd "$repo" && cargo build --release --quiet)
bin=$repo/target/release/atuin-bootstrap
tmp=$(mktemp -d)
server_pid=
browser_pid=
cleanup() {
    [[ -n $browser_pid ]] && kill "$browser_pid" 2>/dev/null
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\n'

mkdir -p "$tmp/fleet"
cat >"$tmp/fleet/flake.nix" <<EOF
{
  outputs = { self }: let
    mk = name: script: derivation {
      inherit name; nonce = "$tmp"; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" "PATH=/bin:/usr/bin\n\${script}\necho \${name} > \$out" ];
    };
  in {
    nixosConfigurations.laptop.config.system.build.toplevel = mk "nixos-system-laptop" "true";
    nixosConfigurations.desktop.config.system.build.toplevel = mk "nixos-system-desktop" "true";
    packages.x86_64-linux.hello = mk "hello" "echo hello";
    packages.x86_64-linux.broken = mk "broken" "echo failing on purpose >&2; exit 1";
    packages.x86_64-linux.ticking = mk "ticking" "i=0; while true; do echo tick \$i; i=\$((i+1)); sleep 0.1; done";
  };
}
EOF
git -C "$tmp/fleet" init -q -b main
git -C "$tmp/fleet" add -A
git -C "$tmp/fleet" -c user.name=b -c user.email=b@b commit -qm first

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
cat >"$tmp/server.toml" <<EOF
[server]
state_dir = "$tmp/state"
listen = "127.0.0.1:$port"
[repo]
url = "$tmp/fleet"
poll_interval = "1h"
EOF
HOME=$tmp "$bin" --config "$tmp/server.toml" serve 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do curl -sf "$base/api/v1/health" >/dev/null && break; sleep 0.1; done

# A field of the JSON on stdin, by a Python expression over `d`.
field() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

echo "filling the history with $jobs real jobs…" >&2
targets=('["hello"]' '["laptop", "desktop"]' '["hello"]' '["broken"]')
for i in $(seq "$jobs"); do
    body="{\"targets\": ${targets[$((i % 4))]}}"
    id=$(curl -sf -X POST "$base/api/v1/jobs" -d "$body" | field "d['id']")
    curl -sf "$base/api/v1/jobs/$id?wait=60" >/dev/null
done
for host in laptop desktop; do
    path=$(curl -sf "$base/api/v1/hosts/$host" | field "d['latest']['path']")
    curl -sf -X POST "$base/api/v1/hosts/$host/report" -d "{\"state\":\"deployed\",\"path\":\"$path\"}" >/dev/null
done
failed=$(curl -sf "$base/api/v1/jobs?state=failed&limit=1" | field "d['jobs'][0]['id']")
hello=$(curl -sf "$base/api/v1/jobs?state=succeeded&limit=10" |
    field "[j['outputs']['hello'] for j in d['jobs'] if 'hello' in j['outputs']][0]")
hash=$(basename "$hello" | cut -c1-32)
total=$(curl -sf "$base/api/v1/jobs?limit=1" | field "d['jobs'][0]['id']")

# One request's time: wrk with one connection for 5 s, its mean latency.
one() {
    wrk -t1 -c1 -d5s "$1" | awk '/Latency/ { print $2 }'
}
rate() {
    wrk -t2 -c32 -d8s "$1" | awk '/Requests\/sec/ { print int($2) }'
}
page_bytes=$(curl -sf "$base/" | wc -c)
job_bytes=$(curl -sf "$base/jobs/$failed" | wc -c)
metrics_bytes=$(curl -sf "$base/metrics" | wc -c)
echo
echo "history: $total jobs"
echo "| measure | value |"
echo "|---|---|"
echo "| \`GET /\` size | $page_bytes bytes |"
echo "| \`GET /\` time (wrk -c1, mean) | $(one "$base/") |"
echo "| \`GET /jobs/$failed\` (failed) size | $job_bytes bytes |"
echo "| \`GET /jobs/$failed\` time | $(one "$base/jobs/$failed") |"
echo "| \`GET /metrics\` size | $metrics_bytes bytes |"
echo "| \`GET /metrics\` time | $(one "$base/metrics") |"

# The cache with and without a tab following a live log.
running=$(curl -sf -X POST "$base/api/v1/jobs" -d '{"targets": ["ticking"]}' | field "d['id']")
sleep 2
without=()
with=()
for run in $(seq "$runs"); do
    without+=("$(rate "$base/$hash.narinfo")")
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$tmp/chromium-$run" "$base/jobs/$running" >/dev/null 2>&1 &
    browser_pid=$!
    sleep 3
    following=$(ss -tn state established "( dport = :$port )" | tail -n +2 | wc -l)
    with+=("$(rate "$base/$hash.narinfo")")
    kill "$browser_pid"; wait "$browser_pid" 2>/dev/null || true
    browser_pid=
    echo "run $run: ${without[-1]} req/s without, ${with[-1]} req/s with the tab ($following connections from it)" >&2
done
curl -sf -X POST "$base/api/v1/jobs/$running/cancel" >/dev/null || true
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
w=$(median "${without[@]}")
t=$(median "${with[@]}")
echo "| narinfo req/s (wrk -c32), no tab | $w |"
echo "| narinfo req/s, a tab following a live log | $t ($(awk -v a="$t" -v b="$w" 'BEGIN { printf "%.2f", a / b }')×, goal ≥ 0.95×) |"
