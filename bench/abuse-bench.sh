#!/usr/bin/env bash
# abuse-bench.sh — the server under a NAR flood: `wrk -c 1000` on the NAR of a 3,000-file
# path, while `/api/v1/health` is timed every 100 ms and the server's memory sampled.
# Prints throughput, wrk's latency percentiles and errors, health latency (p50/p99/max) and
# peak RSS. Then 500 clients that ask for a 16 MiB NAR and never read connect at once, while
# health is timed every 10 ms: its p99/max while they are set up, and the server's anonymous
# memory. Needs Nix, wrk, curl, python3.
#   bench/abuse-bench.sh            (BENCH_SECONDS=N, default 15; BENCH_CONNECTIONS=N, default 1000)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(cd "$repo" && cargo build --release --quiet)
bin=$repo/target/release/atuin-bootstrap
seconds=${BENCH_SECONDS:-15}
connections=${BENCH_CONNECTIONS:-1000}
tmp=$(mktemp -d)
server_pid=
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\n'
ulimit -n "$(ulimit -Hn)"

mkdir -p "$tmp/flake"
cat >"$tmp/flake/flake.nix" <<EOF
{ outputs = { self }: { packages.x86_64-linux.many = derivation {
  name = "many"; system = "x86_64-linux"; builder = "/bin/sh"; nonce = "$tmp";
  args = [ "-c" "PATH=/bin:/usr/bin; mkdir \$out; i=0; while [ \$i -lt 3000 ]; do echo file \$i > \$out/f\$i; i=\$((i+1)); done" ];
}; }; }
EOF
path=$(nix build --no-link --json "path:$tmp/flake#many" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["outputs"]["out"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOME=$tmp "$bin" serve --listen "127.0.0.1:$port" --state-dir "$tmp/state" 2>"$tmp/server.log" &
server_pid=$!
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf "$base/api/v1/health" >/dev/null && break; sleep 0.1; done
hash=$(basename "$path" | cut -c1-32)
nar=$(curl -sf "$base/$hash.narinfo" | sed -n 's/^URL: //p')
size=$(curl -sf "$base/$nar" | wc -c)

(
    end=$((SECONDS + seconds))
    while ((SECONDS < end)); do
        curl -s -o /dev/null -w '%{time_total}\n' --max-time 10 "$base/api/v1/health" || echo 10
        awk '/VmRSS/ {print "rss", $2}' "/proc/$server_pid/status" >&2
        sleep 0.1
    done
) >"$tmp/health.txt" 2>"$tmp/rss.txt" &
probe=$!
wrk -t2 -c"$connections" -d"${seconds}s" --timeout 10s --latency "$base/$nar" >"$tmp/wrk.txt" 2>&1 || true
wait "$probe"

cat >"$tmp/flake/flake.nix" <<EOF
{ outputs = { self }: { packages.x86_64-linux.big = derivation {
  name = "stalled-big"; system = "x86_64-linux"; builder = "/bin/sh"; nonce = "$tmp";
  args = [ "-c" "PATH=/bin:/usr/bin; head -c 16777216 /dev/urandom > \$out" ];
}; }; }
EOF
big=$(nix build --no-link --json "path:$tmp/flake#big" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["outputs"]["out"])')
big_nar=$(curl -sf "$base/$(basename "$big" | cut -c1-32).narinfo" | sed -n 's/^URL: //p')
python3 - "$base" "$big_nar" "$server_pid" >"$tmp/stalled.txt" <<'EOF'
import socket, sys, threading, time, urllib.request
base, nar, pid = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = base.removeprefix("http://").split(":")
request = f"GET /{nar} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
latencies, done = [], False
def probe():
    while not done:
        started = time.time()
        urllib.request.urlopen(f"{base}/api/v1/health", timeout=10).read()
        latencies.append((time.time() - started) * 1000)
        time.sleep(0.01)
prober = threading.Thread(target=probe)
prober.start()
readers = []
for _ in range(500):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    s.sendall(request)
    readers.append(s)
time.sleep(1)
done = True
prober.join()
latencies.sort()
anon = [int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("RssAnon")][0]
print(latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)], latencies[-1], anon)
EOF

python3 - "$tmp" "$connections" "$size" <<'EOF'
import re, statistics, sys
tmp, connections, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wrk = open(f"{tmp}/wrk.txt").read()
health = sorted(float(x) * 1000 for x in open(f"{tmp}/health.txt").read().split())
rss = [int(l.split()[1]) for l in open(f"{tmp}/rss.txt") if l.startswith("rss")]
rate = re.search(r"Requests/sec:\s+([\d.]+)", wrk)
p99 = re.search(r"99%\s+(\S+)", wrk)
errors = re.search(r"Socket errors: (.*)", wrk)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
pct = lambda p: health[min(len(health) - 1, len(health) * p // 100)]
print(f"abuse-bench: wrk -c {connections} on the NAR of a 3,000-file path ({size // 1024} KiB), release build")
print()
print("| measure | value |")
print("|---|---|")
print(f"| NAR requests/s | {rate.group(1) if rate else '?'} |")
print(f"| NAR latency p99 (wrk) | {p99.group(1) if p99 else '?'} |")
print(f"| socket errors | {errors.group(1) if errors else 'none'} |")
print(f"| non-2xx answers | {non2xx.group(1) if non2xx else 0} |")
print(f"| `/api/v1/health` under load: p50 / p99 / max | {pct(50):.1f} / {pct(99):.1f} / {health[-1]:.1f} ms |")
print(f"| server peak RSS | {max(rss) // 1024} MiB |")
stalled_p99, stalled_max, stalled_anon = open(f"{tmp}/stalled.txt").read().split()
print(f"| `/api/v1/health` while 500 stalled NAR readers connect: p99 / max | {float(stalled_p99):.1f} / {float(stalled_max):.1f} ms |")
print(f"| server anonymous RSS with them | {int(stalled_anon) // 1024} MiB |")
EOF
