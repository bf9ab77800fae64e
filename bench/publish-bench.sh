#!/usr/bin/env bash
# publish-bench.sh — publishing the box's cache to S3 (a real Garage on loopback) against
# `nix copy --to file://…` of the same paths: the physical limit of writing them as a static
# binary cache on the same disk.
#
# Builds fixture paths locally (no network), roots them in a state dir as the box roots its
# builds (`gcroots/<target>/<job>`), then times, for each compression (median of N runs):
#   * the box publishing a closure of 201 small paths, and one path with a 256 MiB random
#     file, into a fresh prefix of the bucket: from `serve` starting until its status says
#     nothing is pending (NARs compressed, put, narinfos signed and put, recorded); and of
#     that, the uploads alone as the server logs them (without its start and the 50 ms poll);
#   * `nix copy --to file://DIR?compression=…` of the same paths (a fresh DIR each run).
# Nix's own S3 upload (`nix copy --to s3://…`) is not measured: Debian's Nix 2.8 is built
# without S3 support ("don't know how to open Nix store 's3://…'").
# Garage runs BENCH_GARAGE_NODES nodes (default 1, replication 1: the replicas of a real
# cluster live on other machines; 3 gives replication 3 on this one machine), without its own
# block compression (the NARs come compressed; on a real cluster that CPU is not the box's).
#
#   bench/publish-bench.sh                 # 201 paths, 256 MiB, zstd and none, 3 runs
#   BENCH_QUICK=1 bench/publish-bench.sh   # 51 paths, 32 MiB, zstd only, 1 run
# Overrides: BENCH_PATHS, BENCH_NAR_MIB, BENCH_RUNS, BENCH_COMPRESSIONS ("zstd none xz"),
# BENCH_CONCURRENT (publish.max_concurrent, default 8), BENCH_GARAGE_NODES, BENCH_SEED,
# BENCH_KEEP=1. Needs cargo, nix, curl, garage (cargo install garage --version 2.5.0 --locked).
# Progress goes to stderr; only the table goes to stdout.
set -euo pipefail
shopt -s inherit_errexit

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
bench_sizes zstd "zstd none"
concurrent=${BENCH_CONCURRENT:-8}
garage_nodes=${BENCH_GARAGE_NODES:-1}
seed=${BENCH_SEED:-publish-1}
export PATH="$PATH:$HOME/.cargo/bin"

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in cargo nix nix-build nix-store curl awk garage; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
garage=$(command -v garage)

log "cargo build --release"
(cd "$repo" && cargo build --release --quiet)
bin=$repo/target/release/atuin-bootstrap

tmp=$(mktemp -d /tmp/publish-bench.XXXXXX)
server_pid=
garage_pids=()
cleanup() {
    local status=$?
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    for pid in "${garage_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    bench_remove_tmp "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_private_env

# --- Garage ---------------------------------------------------------------------------------
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
s3_ports=() web_ports=()
for ((n = 1; n <= garage_nodes; n++)); do
    d=$tmp/garage$n
    mkdir -p "$d"
    rpc=$(free_port) s3=$(free_port) web=$(free_port) admin=$(free_port)
    s3_ports+=("$s3") web_ports+=("$web")
    cat >"$d/garage.toml" <<EOF
metadata_dir = "$d/meta"
data_dir = "$d/data"
db_engine = "sqlite"
replication_factor = $garage_nodes
compression_level = "none"
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"
[s3_web]
bind_addr = "127.0.0.1:$web"
root_domain = ".web.garage.localhost"
index = "index.html"
[admin]
api_bind_addr = "127.0.0.1:$admin"
admin_token = "bench"
EOF
    RUST_LOG=garage=warn "$garage" -c "$d/garage.toml" server >"$d/log" 2>&1 &
    garage_pids+=($!)
done
g() { "$garage" -c "$tmp/garage1/garage.toml" "$@"; }
retry() { for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return; sleep 0.2; done; "$@"; }
log "starting Garage ($garage_nodes node(s), $("$garage" --version 2>/dev/null | head -n 1))"
retry g status
ids=()
for ((n = 1; n <= garage_nodes; n++)); do
    ids+=("$("$garage" -c "$tmp/garage$n/garage.toml" node id -q 2>/dev/null)")
done
for id in "${ids[@]:1}"; do retry g node connect "$id"; done
for ((n = 0; n < garage_nodes; n++)); do retry g layout assign -z "dc$n" -c 10G "${ids[$n]%%@*}"; done
g layout apply --version 1 >/dev/null
retry g bucket create nix
key=$(g key create bench-key)
key_id=$(awk -F': *' '/Key ID/ { print $2 }' <<<"$key")
key_secret=$(awk -F': *' '/Secret key/ { print $2 }' <<<"$key")
g bucket allow --read --write --owner nix --key bench-key >/dev/null
echo "$key_id" >"$tmp/access" && echo "$key_secret" >"$tmp/secret"

# --- fixtures: built into the box's store, rooted as builds --------------------------------------
bench_build_fixtures publish-bench

port=$(free_port)
ours=http://127.0.0.1:$port
seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
# Starts the box with only PATH rooted, publishing into prefix PREFIX; prints the seconds
# until the status says nothing is pending, and stops it.
publish_ours() { # COMPRESSION PATH PREFIX
    local state=$tmp/state-$3
    mkdir -p "$state/gcroots/bench"
    ln -sfn "$2" "$state/gcroots/bench/1"
    cat >"$tmp/config-$3.toml" <<EOF
[server]
state_dir = "$state"
[publish]
endpoint = "http://127.0.0.1:${s3_ports[0]}"
region = "garage"
bucket = "nix"
prefix = "$3"
access_key_file = "$tmp/access"
secret_key_file = "$tmp/secret"
compression = "$1"
max_concurrent = $concurrent
EOF
    local start
    start=$(date +%s.%N)
    ATUIN_BOOTSTRAP_LOG=${BENCH_LOG:-info} "$bin" --config "$tmp/config-$3.toml" serve --listen "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
    server_pid=$!
    local status
    for _ in $(seq 36000); do
        status=$(curl -sf "$ours/api/v1/status" 2>/dev/null || true)
        if [[ $status == *'"last_job":1'* && $status == *'"pending_paths":0'* ]]; then
            seconds_since "$start"
            kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
            server_pid=
            # The uploads alone, as the server's log says (without its start and this poll).
            sed -n 's/.*published .* in \([0-9.]*\) s$/\1/p' "$tmp/server.log" | tail -n 1 >"$tmp/round-$3"
            return
        fi
        [[ $status == *'"last_error":"'* ]] && die "publishing failed: $status"
        sleep 0.05
    done
    die "publishing never finished"
}
publish_file() { # COMPRESSION PATH DIR → seconds
    local start
    start=$(date +%s.%N)
    XDG_CACHE_HOME=$(mktemp -d "$tmp/nix-cache.XXXXXX") \
        nix copy --to "file://$3?compression=$1" "$2" >"$tmp/last.log" 2>&1 ||
        { tail -n 5 "$tmp/last.log" >&2; die "nix copy --to file:// failed"; }
    seconds_since "$start"
}
# The floor Garage sets on this machine: one PUT (curl) of the NAR file `nix copy` made.
put_floor() { # DIR (a file:// cache holding one NAR) → seconds
    local nar start
    nar=$(find "$1/nar" -type f | head -n 1)
    start=$(date +%s.%N)
    curl -sf -o /dev/null --aws-sigv4 "aws:amz:garage:s3" --user "$key_id:$key_secret" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$nar" \
        "http://127.0.0.1:${s3_ports[0]}/nix/floor/${nar##*/}" || die "curl PUT to Garage failed"
    seconds_since "$start"
}
floors=()
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "| compression | what | ours to Garage (s) | of which uploading (s) | nix copy --to file:// (s) | ratio | goal |"
echo "|---|---|---|---|---|---|---|"
for compression in $compressions; do
    for what in closure blob; do
        path=$top_path label="closure of $((n_paths + 1)) paths"
        [[ $what == blob ]] && path=$blob_path label="one ${nar_mib} MiB path"
        ours_times=() round_times=() file_times=() floor_times=()
        for ((run = 1; run <= runs; run++)); do
            log "$compression $what run $run: publish to Garage"
            ours_times+=("$(publish_ours "$compression" "$path" "$compression-$what-$run")")
            round_times+=("$(cat "$tmp/round-$compression-$what-$run")")
            log "$compression $what run $run: nix copy to file://"
            file_times+=("$(publish_file "$compression" "$path" "$tmp/filecache-$compression-$what-$run")")
            [[ $what == blob ]] && floor_times+=("$(put_floor "$tmp/filecache-$compression-$what-$run")")
            rm -rf "$tmp/filecache-$compression-$what-$run"
        done
        o=$(median "${ours_times[@]}") r=$(median "${round_times[@]}") f=$(median "${file_times[@]}")
        ratio=$(awk -v o="$o" -v f="$f" 'BEGIN { printf "%.2f", o / f }')
        echo "| $compression | $label | $o | $r | $f | ${ratio}× | ≤ 1.5× |"
        if [[ $what == blob ]]; then
            floors+=("$compression: $(median "${floor_times[@]}") s")
        fi
    done
done
echo
echo "Garage alone on this machine, one curl PUT of the same ${nar_mib} MiB NAR file: ${floors[*]}."
echo "Nix's own S3 upload (nix copy --to s3://…): not measured, Debian's Nix $(nix --version | awk '{ print $3 }') has no S3 support."
