#!/usr/bin/env bash
# jobs-bench.sh — what a job costs over Nix itself: a no-op `bt --wait hello` (the target is
# already built; the server fetches the branch, resolves the target, runs `nix build`, roots
# the output) against a raw no-op `nix build` of the same attribute from the server's own
# mirror, and the time from `POST /api/v1/jobs` to `nix build` started for a known revision
# (the server logs it). Needs Nix, git, hyperfine.
#   bench/jobs-bench.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(cd "$repo" && cargo build --release --quiet)
bin=$repo/target/release/atuin-bootstrap
tmp=$(mktemp -d)
server_pid=
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\n'

mkdir -p "$tmp/fleet"
cat >"$tmp/fleet/flake.nix" <<EOF
{
  outputs = { self }: {
    packages.x86_64-linux.hello = derivation {
      name = "hello"; nonce = "$tmp"; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" "echo hello > \$out" ];
    };
  };
}
EOF
git -C "$tmp/fleet" init -q -b main
git -C "$tmp/fleet" add -A
git -C "$tmp/fleet" -c user.name=b -c user.email=b@b commit -qm first
rev=$(git -C "$tmp/fleet" rev-parse HEAD)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/server.toml" <<EOF
[server]
state_dir = "$tmp/state"
listen = "127.0.0.1:$port"
[repo]
url = "$tmp/fleet"
poll_interval = "1h"
[build]
default_targets = ["hello"]
EOF
HOME=$tmp "$bin" --config "$tmp/server.toml" serve 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done
export ATUIN_BOOTSTRAP_SERVER=http://127.0.0.1:$port HOME=$tmp
"$bin" trigger --wait -q hello >/dev/null

flake="git+file://$tmp/state/repo.git?ref=main&rev=$rev"
hyperfine --warmup 3 --runs 20 -N --export-json "$tmp/times.json" \
    "nix build --no-link $flake#packages.x86_64-linux.hello" \
    "$bin trigger --wait -q hello" \
    "$bin trigger --wait -q hello --rev $rev" >&2

# POST → nix started, for a known revision: the server's own measure, from its log.
for _ in $(seq 10); do
    curl -sf -X POST "http://127.0.0.1:$port/api/v1/jobs" -d "{\"targets\":[\"hello\"],\"rev\":\"$rev\"}" >/dev/null
    sleep 0.3
done
started=$(grep -o 'nix started [0-9.]* ms after the request' "$tmp/server.log" | awk '{print $3}' | tail -10 | sort -n)

python3 - "$tmp/times.json" "$started" <<'EOF'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
raw, bt, bt_rev = (statistics.median(r["times"]) * 1000 for r in results)
started = [float(x) for x in sys.argv[2].split()]
print("jobs-bench: release build, a no-op job of an already-built package, medians of 20 runs")
print()
print("| measure | ms | goal |")
print("|---|---|---|")
print(f"| raw `nix build` (no-op) | {raw:.0f} | — |")
print(f"| `bt --wait hello` (fetch + resolve + build + root) | {bt:.0f} (+{bt - raw:.0f} over raw) | ≤ +100 |")
print(f"| `bt --wait hello --rev REV` (no fetch) | {bt_rev:.0f} (+{bt_rev - raw:.0f} over raw) | ≤ +100 |")
if started:
    print(f"| POST → nix started, known revision (median of {len(started)}) | {statistics.median(started):.1f} | ≤ 20 |")
EOF
