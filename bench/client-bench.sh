#!/usr/bin/env bash
# client-bench.sh — how fast the clients feel: the binary's start-up time
# (`atuin-bootstrap --version`) and a `bs` round trip (`bs --json` and `bs`, which asks the
# server for its status and recent jobs) against a server on loopback. Needs hyperfine.
#   bench/client-bench.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(cd "$repo" && cargo build --release --quiet)
bin=$repo/target/release/atuin-bootstrap
tmp=$(mktemp -d)
server_pid=
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOME=$tmp "$bin" serve --listen "127.0.0.1:$port" --state-dir "$tmp/state" 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done
mkdir -p "$tmp/bin" && "$bin" links "$tmp/bin" >/dev/null
export ATUIN_BOOTSTRAP_SERVER=http://127.0.0.1:$port HOME=$tmp
hyperfine --warmup 10 --runs 200 -N --export-markdown "$tmp/table.md" \
    "$bin --version" "$tmp/bin/bs --json" "$tmp/bin/bs" >&2
echo "client-bench: $(nproc) cores, release build, server on loopback"
echo
cat "$tmp/table.md"
