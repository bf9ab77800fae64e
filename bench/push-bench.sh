#!/usr/bin/env bash
# push-bench.sh — uploads into atuin-bootstrap's cache (`nix copy --to http://…`) against
# `nix copy --to` a private nginx taking plain WebDAV PUTs (nginx only writes the files: the
# floor of Nix's own HTTP upload) and `nix copy --to file://…` of the same paths (writing them
# as a static binary cache on the same disk, no HTTP at all).
#
# Builds fixture paths locally (no network), moves them into a chroot store (a "laptop" that
# has them) and out of the box's store, then times, for each compression (median of N runs):
#   * push of a closure of 201 small paths, and of one path with a 256 MiB random file, to
#     `serve` with a push token (the server checks every NAR and adds each path to its store);
#   * the same push to nginx (`dav_methods PUT; create_full_put_path on;`, its own prefix and
#     config on a loopback port, a fresh root each run);
#   * `nix copy --to file://DIR?compression=…` of the same paths (a fresh DIR each run).
# The three alternate within each run. Between runs the pushed paths are taken out of the box
# again. Also the server's peak RSS (VmHWM) and peak anonymous memory (RssAnon, sampled) over
# the pushes. Prints a markdown table with both ratios (goals: ≤ 1.2× nginx for the closure,
# ≤ 1.1× for the big path; server anonymous memory < 64 MiB). Note: Nix 2.8, the client,
# holds each upload whole in its own memory; that is the client's RSS, not the server's.
#
#   bench/push-bench.sh                 # 201 paths, 256 MiB, compressions none and zstd, 3 runs
#   BENCH_QUICK=1 bench/push-bench.sh   # 51 paths, 32 MiB, none only, 1 run
# Overrides: BENCH_PATHS, BENCH_NAR_MIB, BENCH_RUNS, BENCH_COMPRESSIONS ("none zstd xz"),
# BENCH_WHAT ("closure blob", the default, or either alone),
# BENCH_SEED, BENCH_KEEP=1, BENCH_BIN (a binary to time instead of this tree's release build). Needs cargo, nix, curl; root or a single-user Nix install.
# Progress goes to stderr; only the table goes to stdout.
set -euo pipefail
shopt -s inherit_errexit

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
bench_sizes none "none zstd"
seed=${BENCH_SEED:-push-1}

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in cargo nix nix-build nix-store curl awk nginx; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

if [[ -n ${BENCH_BIN:-} ]]; then
    bin=$BENCH_BIN
else
    log "cargo build --release"
    (cd "$repo" && cargo build --release --quiet)
    bin=$repo/target/release/atuin-bootstrap
fi

tmp=$(mktemp -d /tmp/push-bench.XXXXXX)
server_pid= nginx_pid= sampler_pid=
cleanup() {
    local status=$?
    [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    bench_remove_tmp "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_private_env

# --- fixtures: built here, kept only in the "laptop" store ------------------------------------
bench_build_fixtures push-bench
laptop="local?root=$tmp/laptop"
log "copying them into the laptop store $tmp/laptop"
nix copy --no-check-sigs --to "$laptop" "$top_path" "$blob_path"

# Takes the fixtures out of the box (its store, its pushed area and, for servers that added
# pushed paths to the store, their roots), so a push sends them all.
forget_in_box() {
    rm -rf "$tmp/state/pushed/roots" "$tmp/state/pushed/paths/"* "$tmp/state/pushed/nar/"* 2>/dev/null || true
    nix-store --delete "$blob_path" "${closure[@]}" >/dev/null 2>&1 || true
    nix-store --check-validity "$blob_path" 2>/dev/null && die "$blob_path is still in the store"
    for p in "${closure[@]}"; do
        nix-store --check-validity "$p" 2>/dev/null && die "$p is still in the store"
    done
    return 0
}
forget_in_box

# --- our server ---------------------------------------------------------------------------------
port=$(free_port)
ours=http://127.0.0.1:$port
token=$("$bin" token create bench --scope push --state-dir "$tmp/state" 2>/dev/null | tail -n 1)
printf 'machine 127.0.0.1 login bench password %s\n' "$token" >"$tmp/netrc"
chmod 600 "$tmp/netrc"
log "starting atuin-bootstrap on $ours"
ATUIN_BOOTSTRAP_LOG=${BENCH_LOG:-info} "$bin" serve --listen "127.0.0.1:$port" --state-dir "$tmp/state" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "$ours/api/v1/health" && break; sleep 0.1; done
curl -sf -o /dev/null "$ours/api/v1/health" || die "the server did not start"
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status"; }
log "server RSS peak after start: $(hwm_kib) KiB"
# RssAnon has no kernel high-water mark: sampled every 20 ms, the largest kept in a file.
(
    peak=0
    while [[ -r /proc/$server_pid/status ]]; do
        anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || echo 0)
        ((${anon:-0} > peak)) && peak=$anon && echo "$peak" >"$tmp/anon-peak"
        sleep 0.02
    done
) &
sampler_pid=$!
# Whether the box serves PATH (a narinfo): pushed paths may live in its store or beside it.
box_serves() { curl -sf -o /dev/null "$ours/$(hash_of "$1").narinfo"; }

# --- nginx taking WebDAV PUTs: its own prefix, config and root ------------------------------
nginx_port=$(free_port)
nginx_url=http://127.0.0.1:$nginx_port
mkdir -p "$tmp/nginx/logs" "$tmp/nginx/root"
cat >"$tmp/nginx/nginx.conf" <<NGINX
daemon off;
user root;
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:$nginx_port;
        root $tmp/nginx/root;
        dav_methods PUT;
        create_full_put_path on;
    }
}
NGINX
nginx_fresh_root() {
    rm -rf "$tmp/nginx/root" && mkdir -p "$tmp/nginx/root"
    printf 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n' >"$tmp/nginx/root/nix-cache-info"
}
nginx_fresh_root
log "starting nginx (WebDAV PUT) on $nginx_url"
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx/logs/stdout.log" 2>&1 &
nginx_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "$nginx_url/nix-cache-info" && break; sleep 0.1; done
curl -sf -o /dev/null "$nginx_url/nix-cache-info" || die "nginx did not start"

seconds() { # command… → wall seconds
    local start end
    start=$(date +%s.%N)
    "$@" >"$tmp/last.log" 2>&1 || { tail -n 5 "$tmp/last.log" >&2; die "failed: $*"; }
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Each copy with a fresh Nix cache dir: Nix remembers what it uploaded (narinfo disk cache), and
# would skip the next run's upload of paths the box no longer has.
fresh_cache() { mktemp -d "$tmp/nix-cache.XXXXXX"; }
push_ours() { # COMPRESSION PATH
    XDG_CACHE_HOME=$(fresh_cache) nix copy --netrc-file "$tmp/netrc" --from "$laptop" --to "$ours?compression=$1" "$2"
}
push_nginx() { # COMPRESSION PATH
    XDG_CACHE_HOME=$(fresh_cache) nix copy --from "$laptop" --to "$nginx_url?compression=$1" "$2"
}
push_file() { # COMPRESSION PATH DIR
    XDG_CACHE_HOME=$(fresh_cache) nix copy --from "$laptop" --to "file://$3?compression=$1" "$2"
}

echo "| compression | what | ours (s) | nginx WebDAV (s) | file:// (s) | ours/nginx | goal | ours/file:// |"
echo "|---|---|---|---|---|---|---|---|"
for compression in $compressions; do
    for what in ${BENCH_WHAT:-closure blob}; do
        path=$top_path label="closure of $((n_paths + 1)) paths"
        [[ $what == blob ]] && path=$blob_path label="one ${nar_mib} MiB path"
        goal=1.2
        [[ $what == blob ]] && goal=1.1
        ours_times=() nginx_times=() file_times=()
        for ((run = 1; run <= runs; run++)); do
            forget_in_box
            log "$compression $what run $run: push to ours"
            ours_times+=("$(seconds push_ours "$compression" "$path")")
            box_serves "$path" || die "$path is not served after the push"
            log "$compression $what run $run: push to nginx"
            nginx_fresh_root
            nginx_times+=("$(seconds push_nginx "$compression" "$path")")
            log "$compression $what run $run: nix copy to file://"
            file_times+=("$(seconds push_file "$compression" "$path" "$tmp/filecache-$compression-$what-$run")")
            rm -rf "$tmp/filecache-$compression-$what-$run"
        done
        o=$(median "${ours_times[@]}") n=$(median "${nginx_times[@]}") f=$(median "${file_times[@]}")
        to_nginx=$(awk -v o="$o" -v n="$n" 'BEGIN { printf "%.2f", o / n }')
        to_file=$(awk -v o="$o" -v f="$f" 'BEGIN { printf "%.2f", o / f }')
        echo "| $compression | $label | $o | $n | $f | ${to_nginx}× | ≤ ${goal}× | ${to_file}× |"
    done
done
peak=$(hwm_kib)
anon=$(cat "$tmp/anon-peak" 2>/dev/null || echo 0)
echo
echo "Server peak over all pushes, the ${nar_mib} MiB ones included: anonymous $((anon / 1024)) MiB (RssAnon, sampled; goal < 64 MiB), RSS $((peak / 1024)) MiB (VmHWM, with page cache of mapped files)."
forget_in_box
