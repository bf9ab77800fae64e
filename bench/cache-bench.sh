#!/usr/bin/env bash
# cache-bench.sh — atuin-bootstrap's binary cache against nginx serving a static cache.
#
# Builds fixture store paths locally (no network), serves them two ways and measures both:
#   * atuin-bootstrap `serve`  (signed narinfo rendered per request, NARs streamed from /nix/store)
#   * nginx serving `nix copy --to 'file://DIR?compression=none'` of the same paths
# Metrics: narinfo requests/s (wrk, 32 connections, cycling through the closure's narinfos),
# MiB/s for one large uncompressed NAR (curl, median of N), wall time of `nix copy` of a
# ~200-path closure into a fresh chroot store (median of N), and the server's peak RSS (VmHWM).
# Prints a markdown table with ratios against the targets.
#
# Run from anywhere (needs cargo, nix, nginx, wrk, curl; root or a single-user Nix install):
#   bench/cache-bench.sh                 # full: 10 s wrk, 256 MiB NAR, 200 small paths
#   BENCH_QUICK=1 bench/cache-bench.sh   # smoke test: 3 s wrk, 64 MiB NAR, 50 small paths
# Overrides: BENCH_WRK_SECONDS, BENCH_NAR_MIB, BENCH_PATHS, BENCH_RUNS (default 3),
# BENCH_SEED (changes the fixtures), BENCH_KEEP=1 (keep the temp dir for inspection).
# Everything but the fixtures in /nix/store lives in a private temp dir, removed on exit.
# Progress goes to stderr; only the table goes to stdout.
set -euo pipefail
shopt -s inherit_errexit

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    wrk_seconds=${BENCH_WRK_SECONDS:-3} nar_mib=${BENCH_NAR_MIB:-64} n_paths=${BENCH_PATHS:-50}
else
    wrk_seconds=${BENCH_WRK_SECONDS:-10} nar_mib=${BENCH_NAR_MIB:-256} n_paths=${BENCH_PATHS:-200}
fi
runs=${BENCH_RUNS:-3}
seed=${BENCH_SEED:-1}

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in cargo nix nix-build nix-store nginx wrk curl awk sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

# --- build (with the caller's HOME, so cargo finds its toolchain) ---------------------------
log "cargo build --release"
(cd "$repo" && cargo build --release --quiet)
bin=$repo/target/release/atuin-bootstrap
[[ -x $bin ]] || die "$bin missing after the build"

# --- private environment and cleanup ---------------------------------------------------------
tmp=$(mktemp -d /tmp/cache-bench.XXXXXX)
server_pid= nginx_pid=
cleanup() {
    local status=$?
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    if ((status != 0)) && [[ -s $tmp/server.log ]]; then
        log "failed; last lines of $tmp/server.log:"
        tail -n 40 "$tmp/server.log" >&2
        [[ ${BENCH_KEEP:-0} == 1 ]] || log "(rerun with BENCH_KEEP=1 to keep $tmp and its logs)"
    fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $tmp"
    else
        chmod -R u+w "$tmp" 2>/dev/null || true # chroot stores hold read-only store paths
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$repo/bench/lib.sh"
bench_private_env

# --- fixtures ----------------------------------------------------------------------------------
bench_write_fixtures cache-bench
log "building fixtures: $n_paths small paths, one ${nar_mib} MiB path (reused if present)"
blob_path=$(build_fixture blob)
top_path=$(build_fixture closure)
mapfile -t closure < <(nix-store -qR "$top_path")
((${#closure[@]} == n_paths + 1)) || die "closure of $top_path has ${#closure[@]} paths, not $((n_paths + 1))"
blob_hash=$(hash_of "$blob_path")

wait_http() { # URL NAME PID
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1" && return
        kill -0 "$3" 2>/dev/null || die "$2 exited during start-up"
        sleep 0.1
    done
    die "$2 did not answer $1 within 10 s"
}

# --- our server --------------------------------------------------------------------------------
ours_port=$(free_port)
ours=http://127.0.0.1:$ours_port
log "starting atuin-bootstrap on $ours (log: $tmp/server.log)"
"$bin" serve --listen "127.0.0.1:$ours_port" --state-dir "$tmp/state" >"$tmp/server.log" 2>&1 &
server_pid=$!
wait_http "$ours/api/v1/health" atuin-bootstrap "$server_pid"
public_key=$("$bin" cache public-key --state-dir "$tmp/state")
log "signing key: $public_key"

# --- nginx with a static copy of the same paths ------------------------------------------------
log "nix copy to a file:// cache for nginx"
nix copy --to "file://$tmp/filecache?compression=none" "$blob_path" "$top_path" 2>"$tmp/filecache.log" ||
    die "nix copy to the file cache failed: $(tail -n 5 "$tmp/filecache.log")"
sync # let the writeback of the fresh file cache not disturb the measurements
nginx_port=$(free_port)
[[ $nginx_port == "$ours_port" ]] && nginx_port=$(free_port)
nginx=http://127.0.0.1:$nginx_port
mkdir -p "$tmp/nginx/logs"
cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process on;
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
    open_file_cache max=10000 inactive=60s; # a tuned static server, not a strawman
    default_type application/octet-stream;
    types { text/x-nix-narinfo narinfo; application/x-nix-nar nar; }
    server {
        listen 127.0.0.1:$nginx_port;
        root $tmp/filecache;
    }
}
EOF
log "starting nginx on $nginx"
nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" 2>>"$tmp/nginx/error.log" &
nginx_pid=$!
wait_http "$nginx/nix-cache-info" nginx "$nginx_pid"

# --- sanity: both serve the same facts for every path, and the same bytes for the big NAR ---
narinfo_field() { curl -sf "$1/$2.narinfo" | awk -v k="$3:" '$1 == k { print $2 }'; }
# The fields both must agree on (nix copy's file cache differs in URL, FileHash, Sig, ...).
facts() { curl -sf "$1/$2.narinfo" | grep -E '^(StorePath|NarHash|NarSize|References|Deriver):' | sort; }
for p in "${closure[@]}" "$blob_path"; do
    h=$(hash_of "$p")
    ours_facts=$(facts "$ours" "$h") || die "$ours/$h.narinfo: request failed"
    grep -qxF "StorePath: $p" <<<"$ours_facts" || die "$ours/$h.narinfo names the wrong path"
    [[ $ours_facts == "$(facts "$nginx" "$h")" ]] ||
        die "$h.narinfo differs: ours vs nginx:"$'\n'"$ours_facts"$'\n---\n'"$(facts "$nginx" "$h")"
done
curl -sf "$ours/$blob_hash.narinfo" | grep -q '^Sig: ' || die "our narinfo carries no signature"
nar_size=$(narinfo_field "$ours" "$blob_hash" NarSize)
ours_nar=$ours/$(narinfo_field "$ours" "$blob_hash" URL)
nginx_nar=$nginx/$(narinfo_field "$nginx" "$blob_hash" URL)
# This also warms both up (page cache) for the throughput runs.
[[ $(curl -sf "$ours_nar" | sha256sum) == "$(curl -sf "$nginx_nar" | sha256sum)" ]] ||
    die "the ${nar_mib} MiB NAR differs between ours ($ours_nar) and nginx ($nginx_nar)"

# --- narinfo requests/s ------------------------------------------------------------------------
{
    echo 'local paths = {'
    for p in "${closure[@]}"; do printf '  "/%s.narinfo",\n' "$(hash_of "$p")"; done
    echo '}'
    echo 'local i = 0'
    echo 'request = function()'
    echo '  i = i % #paths + 1'
    echo '  return wrk.format("GET", paths[i])'
    echo 'end'
} >"$tmp/narinfo.lua"
narinfo_rps() { # BASE NAME
    local out
    out=$(wrk -t2 -c32 -d"${wrk_seconds}s" -s "$tmp/narinfo.lua" "$1")
    printf '%s\n' "$out" >"$tmp/wrk-$2.txt"
    grep -Eq 'Non-2xx|Socket errors' <<<"$out" && log "WARNING ($2): $(grep -E 'Non-2xx|Socket errors' <<<"$out")"
    awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}
log "narinfo: wrk -t2 -c32 -d${wrk_seconds}s over ${#closure[@]} URLs"
ours_rps=$(narinfo_rps "$ours" ours)
nginx_rps=$(narinfo_rps "$nginx" nginx)

# --- NAR throughput and nix copy: runs alternate between the servers, so drift on a busy ----
# --- machine hits both alike -------------------------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
nar_once() { # URL NAME → MiB/s
    local out code size speed
    out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$1")
    read -r code size speed <<<"$out"
    [[ $code == 200 && $size == "$nar_size" ]] || die "$2: NAR download gave HTTP $code, $size of $nar_size bytes"
    awk -v s="$speed" 'BEGIN { printf "%.1f\n", s / 1048576 }'
}
copy_once() { # BASE NAME RUN EXTRA-NIX-CONFIG → seconds
    local dest=$tmp/dest-$2-$3 start end
    start=$(date +%s%N)
    # A fresh HOME per run: no narinfo disk cache (~/.cache/nix) carried over.
    HOME=$dest-home XDG_CACHE_HOME=$dest-home/.cache NIX_CONFIG="$NIX_CONFIG"$'\n'"$4" \
        nix copy --from "$1" --to "$dest" "$top_path" 2>>"$tmp/copy-$2.log" ||
        die "$2: nix copy failed (see $tmp/copy-$2.log): $(tail -n 3 "$tmp/copy-$2.log")"
    end=$(date +%s%N)
    [[ -e $dest$top_path ]] || die "$2: nix copy left no $top_path in $dest"
    awk -v ns=$((end - start)) 'BEGIN { printf "%.3f\n", ns / 1e9 }'
}

log "NAR: ${nar_mib} MiB, $runs runs each"
ours_nar_runs=() nginx_nar_runs=()
for ((i = 0; i < runs; i++)); do
    v=$(nar_once "$ours_nar" ours)
    ours_nar_runs+=("$v")
    v=$(nar_once "$nginx_nar" nginx)
    nginx_nar_runs+=("$v")
done
log "  ours  MiB/s: ${ours_nar_runs[*]}"
log "  nginx MiB/s: ${nginx_nar_runs[*]}"
ours_nar_mibps=$(median "${ours_nar_runs[@]}")
nginx_nar_mibps=$(median "${nginx_nar_runs[@]}")

log "nix copy: ${#closure[@]} paths into a fresh chroot store, $runs runs each"
ours_copy_runs=() nginx_copy_runs=()
for ((i = 0; i < runs; i++)); do
    # Ours must pass signature checks; the nginx copy is unsigned, so it goes without them.
    v=$(copy_once "$ours" ours "$i" "trusted-public-keys = $public_key")
    ours_copy_runs+=("$v")
    v=$(copy_once "$nginx" nginx "$i" "require-sigs = false")
    nginx_copy_runs+=("$v")
done
log "  ours  s: ${ours_copy_runs[*]}"
log "  nginx s: ${nginx_copy_runs[*]}"
ours_copy=$(median "${ours_copy_runs[@]}")
nginx_copy=$(median "${nginx_copy_runs[@]}")

# --- peak RSS ----------------------------------------------------------------------------------
kill -0 "$server_pid" 2>/dev/null || die "atuin-bootstrap died during the benchmark"
rss_mib=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")

if grep -Eiq 'error|panic|warn' "$tmp/server.log"; then
    log "WARNING: our server logged errors or warnings:"
    grep -Ei 'error|panic|warn' "$tmp/server.log" | head -n 20 >&2
fi
if grep -Eq '\[(error|crit|alert|emerg)\]' "$tmp/nginx/error.log"; then
    log "WARNING: nginx logged errors:"
    grep -E '\[(error|crit|alert|emerg)\]' "$tmp/nginx/error.log" | head -n 20 >&2
fi

# --- table -------------------------------------------------------------------------------------
# ratio = ours / nginx; verdict against the target.
row() { # METRIC OURS NGINX OP LIMIT UNIT
    awk -v m="$1" -v a="$2" -v b="$3" -v op="$4" -v lim="$5" -v u="$6" 'BEGIN {
        r = a / b
        ok = (op == ">=") ? (r >= lim) : (r <= lim)
        printf "| %s | %s%s | %s%s | %.2f× | %s %.1f× nginx %s |\n", m, a, u, b, u, r,
            (op == ">=") ? "≥" : "≤", lim, ok ? "✅" : "❌"
    }'
}
rss_ok=$(awk -v r="$rss_mib" 'BEGIN { print (r < 64) ? "✅" : "❌" }')
echo
echo "cache-bench: ${#closure[@]}-path closure, ${nar_mib} MiB NAR, wrk ${wrk_seconds}s, median of $runs, $(nproc) cores"
echo
echo "| metric | atuin-bootstrap | nginx | ratio | target |"
echo "|---|---|---|---|---|"
row "narinfo requests/s (wrk -c32)" "$ours_rps" "$nginx_rps" ">=" 0.8 ""
row "NAR download (${nar_mib} MiB, uncompressed)" "$ours_nar_mibps" "$nginx_nar_mibps" ">=" 0.8 " MiB/s"
row "nix copy (${#closure[@]} paths)" "$ours_copy" "$nginx_copy" "<=" 1.2 " s"
echo "| server peak RSS (VmHWM) | $rss_mib MiB | — | — | < 64 MiB $rss_ok |"
