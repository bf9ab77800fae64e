#!/usr/bin/env bash
# nar-cache-bench.sh — NARs sent from the NAR cache (`<state>/nar-cache`) against nginx sending
# the pre-made files of `nix copy --to file://` for the same paths, in one run:
#   * a many-file NAR (3,000 small files), uncompressed and zstd, after the first request
#     (wrk, 8 connections, requests/s)
#   * a large zstd NAR of random bytes (one download at a time, curl, MiB/s, median of N)
#   * the first request (cache emptied before each) against the server with the cache off
#     (`cache.nar_cache_size = "0"`, which is how every request was served before the cache)
# Prints a markdown table with ratios.
#
#   bench/nar-cache-bench.sh                 # 10 s wrk, 256 MiB NAR
#   BENCH_QUICK=1 bench/nar-cache-bench.sh   # 3 s wrk, 64 MiB NAR
# Overrides: BENCH_WRK_SECONDS, BENCH_NAR_MIB, BENCH_FILES, BENCH_RUNS (default 5),
# BENCH_SEED, BENCH_KEEP=1. Needs cargo, nix, nginx, wrk, curl. Progress to stderr, table to stdout.
set -euo pipefail
shopt -s inherit_errexit

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    wrk_seconds=${BENCH_WRK_SECONDS:-3} nar_mib=${BENCH_NAR_MIB:-64}
else
    wrk_seconds=${BENCH_WRK_SECONDS:-10} nar_mib=${BENCH_NAR_MIB:-256}
fi
n_files=${BENCH_FILES:-3000} runs=${BENCH_RUNS:-5} seed=${BENCH_SEED:-1}

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in cargo nix nix-build nginx wrk curl awk; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

log "cargo build --release"
(cd "$repo" && cargo build --release --quiet)
bin=${CARGO_TARGET_DIR:-$repo/target}/release/atuin-bootstrap
[[ -x $bin ]] || die "$bin missing after the build"

tmp=$(mktemp -d /tmp/nar-cache-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$repo/bench/lib.sh"
bench_private_env

cat >"$tmp/bench.nix" <<'EOF'
{ files, blobBytes, seed }:
let
  mk = name: script: attrs: derivation ({
    inherit name seed;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
    PATH = "/bin:/usr/bin";
  } // attrs);
in {
  many = mk "nar-cache-bench-many" ''mkdir $out && i=0 && while [ $i -lt $files ]; do
      i=$((i + 1)); yes "line $i of $seed" | head -c 1000 > $out/f$i; done'' { files = toString files; };
  blob = mk "nar-cache-bench-blob" ''mkdir $out && head -c $bytes /dev/urandom > $out/blob''
    { bytes = toString blobBytes; };
}
EOF
build() {
    nix-build --no-out-link --quiet "$tmp/bench.nix" -A "$1" --arg files "$n_files" \
        --arg blobBytes "$((nar_mib * 1048576))" --argstr seed "$seed"
}
log "building fixtures: $n_files small files, a ${nar_mib} MiB blob (reused if present)"
many=$(build many)
blob=$(build blob)

wait_http() {
    for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return; sleep 0.1; done
    die "$1 did not answer within 10 s"
}
start_ours() { # NAME COMPRESSION NAR_CACHE_SIZE; sets ours_<NAME> to its URL
    local port
    port=$(free_port)
    env ATUIN_BOOTSTRAP_CACHE__COMPRESSION="$2" ATUIN_BOOTSTRAP_CACHE__NAR_CACHE_SIZE="$3" \
        "$bin" serve --listen "127.0.0.1:$port" --state-dir "$tmp/state-$1" \
        >"$tmp/server-$1.log" 2>&1 &
    pids+=($!)
    printf -v "ours_${1//-/_}" '%s' "http://127.0.0.1:$port"
}
start_ours none none 5GiB
start_ours zstd zstd 5GiB
start_ours off zstd 0 # every request made anew, as before the cache
start_ours off-none none 0
for url in "$ours_none" "$ours_zstd" "$ours_off" "$ours_off_none"; do wait_http "$url/api/v1/health"; done

log "nix copy to file:// caches (none, zstd) for nginx"
for c in none zstd; do
    nix copy --to "file://$tmp/files-$c?compression=$c" "$many" "$blob" 2>"$tmp/copy-$c.log" ||
        die "nix copy ($c) failed: $(tail -n 3 "$tmp/copy-$c.log")"
done
sync
nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<EOF
daemon off;
worker_processes auto;
user $(id -un) $(id -gn);
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=10000 inactive=60s;
    default_type application/octet-stream;
    server { listen 127.0.0.1:$nginx_port; root $tmp; }
}
EOF
nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" 2>>"$tmp/nginx/error.log" &
pids+=($!)
nginx=http://127.0.0.1:$nginx_port
wait_http "$nginx/files-none/nix-cache-info"

nar_of() { # BASE PATH → the NAR URL its narinfo names
    echo "$1/$(curl -sf "$1/$(hash_of "$2").narinfo" | awk '$1 == "URL:" { print $2 }')"
}
many_none=$(nar_of "$ours_none" "$many") many_zstd=$(nar_of "$ours_zstd" "$many")
blob_zstd=$(nar_of "$ours_zstd" "$blob") blob_off=$(nar_of "$ours_off" "$blob")
many_off_none=$(nar_of "$ours_off_none" "$many")
ng_many_none=$(nar_of "$nginx/files-none" "$many") ng_many_zstd=$(nar_of "$nginx/files-zstd" "$many")
ng_blob_zstd=$(nar_of "$nginx/files-zstd" "$blob")

# Same bytes as nginx's (uncompressed) and as Nix's own dump (compressed, once decompressed).
[[ $(curl -sf "$many_none" | sha256sum) == "$(curl -sf "$ng_many_none" | sha256sum)" ]] ||
    die "the many-file NAR differs from nginx's"
[[ $(curl -sf "$many_zstd" | zstd -dc | sha256sum) == "$(nix-store --dump "$many" | sha256sum)" ]] ||
    die "the zstd many-file NAR does not decompress to the NAR"

rps() { # URL NAME
    local out
    out=$(wrk -t2 -c8 -d"${wrk_seconds}s" "$1")
    printf '%s\n' "$out" >"$tmp/wrk-$2.txt"
    grep -Eq 'Non-2xx|Socket errors' <<<"$out" && log "WARNING ($2): $(grep -E 'Non-2xx|Socket errors' <<<"$out")"
    awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' <<<"$out"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mibps() { curl -sf -o /dev/null -w '%{speed_download}' "$1" | awk '{ printf "%.0f\n", $1 / 1048576 }'; }
seconds() { curl -sf -o /dev/null -w '%{time_total}' "$1" | awk '{ printf "%.3f\n", $1 }'; }

log "many-file NAR, wrk -c8 ${wrk_seconds}s each (after the first request)"
r_many_none=$(rps "$many_none" ours-none) n_many_none=$(rps "$ng_many_none" nginx-none)
r_many_zstd=$(rps "$many_zstd" ours-zstd) n_many_zstd=$(rps "$ng_many_zstd" nginx-zstd)

log "${nar_mib} MiB zstd NAR, one download, $runs runs each"
curl -sf -o /dev/null "$blob_zstd" # made once
ours_runs=() ng_runs=()
for ((i = 0; i < runs; i++)); do
    ours_runs+=("$(mibps "$blob_zstd")") ng_runs+=("$(mibps "$ng_blob_zstd")")
done
log "  ours ${ours_runs[*]}; nginx ${ng_runs[*]}"

log "first requests (cache emptied before each) against the cache turned off, $runs runs"
empty() { "$bin" gc --nar-cache --state-dir "$tmp/state-$1" >/dev/null; }
first_blob=() off_blob=() first_many=() off_many=()
for ((i = 0; i < runs; i++)); do
    empty zstd; first_blob+=("$(seconds "$blob_zstd")"); off_blob+=("$(seconds "$blob_off")")
    empty none; first_many+=("$(seconds "$many_none")"); off_many+=("$(seconds "$many_off_none")")
done
log "  blob first ${first_blob[*]}; off ${off_blob[*]}"
log "  many first ${first_many[*]}; off ${off_many[*]}"

for name in none zstd; do
    grep -Eiq 'error|panic' "$tmp/server-$name.log" && log "WARNING: server-$name logged errors"
done

row() { # METRIC OURS OTHER UNIT
    awk -v m="$1" -v a="$2" -v b="$3" -v u="$4" \
        'BEGIN { printf "| %s | %s%s | %s%s | %.2f× |\n", m, b, u, a, u, a / b }'
}
row_time() { # METRIC OURS OTHER (seconds: ratio = other / ours, higher is better)
    awk -v m="$1" -v a="$2" -v b="$3" \
        'BEGIN { printf "| %s | %s s | %s s | %.2f× |\n", m, b, a, b / a }'
}
echo
echo "nar-cache-bench: $n_files-file NAR, ${nar_mib} MiB zstd NAR, wrk ${wrk_seconds}s -c8, median of $runs, $(nproc) cores"
echo
echo "| NAR | nginx (pre-made file) / cache off | this server | ratio |"
echo "|---|---|---|---|"
row "$n_files small files, no compression, 8 connections" "$r_many_none" "$n_many_none" " req/s"
row "$n_files small files, zstd, 8 connections" "$r_many_zstd" "$n_many_zstd" " req/s"
row "${nar_mib} MiB of random bytes, zstd, one download" "$(median "${ours_runs[@]}")" "$(median "${ng_runs[@]}")" " MiB/s"
row_time "first request, ${nar_mib} MiB zstd (vs cache off)" "$(median "${first_blob[@]}")" "$(median "${off_blob[@]}")"
row_time "first request, $n_files files, no compression (vs cache off)" "$(median "${first_many[@]}")" "$(median "${off_many[@]}")"
