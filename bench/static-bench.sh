#!/usr/bin/env bash
# static-bench.sh — the static musl binary against the glibc one, as a binary cache.
#
# Builds both release binaries (unless given), builds fixture store paths locally (no network),
# serves the same paths from both at once and measures each, in an order rotated run by run:
#   * narinfo requests/s (wrk -t2 -c32, cycling through a closure's narinfos);
#   * MiB/s of one large uncompressed NAR (curl, two downloads per run);
#   * the server's peak RSS (VmHWM) and the binary's size.
# Prints a markdown table: each binary's medians, and each one's ratio to glibc as the median
# of the per-run ratios (servers measured in the same minute), which the VM's drift disturbs
# far less than a ratio of medians.
#
# Run from anywhere (needs cargo with the x86_64-unknown-linux-musl target and musl-tools,
# nix, wrk, curl; root or a single-user Nix install):
#   bench/static-bench.sh                 # 5 runs of 5 s wrk each, 256 MiB NAR, 200 small paths
#   BENCH_QUICK=1 bench/static-bench.sh   # smoke: 2 runs of 2 s, 64 MiB NAR, 50 small paths
# Overrides: BENCH_GLIBC=PATH, BENCH_MUSL=PATH (measure these binaries, no cargo build),
# BENCH_ALSO="NAME=PATH …" (more binaries in the same run, e.g. a build with another
# allocator), BENCH_WRK_SECONDS, BENCH_NAR_MIB, BENCH_PATHS, BENCH_RUNS, BENCH_SEED, BENCH_KEEP=1.
# Progress goes to stderr; only the table goes to stdout.
set -euo pipefail
shopt -s inherit_errexit

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
musl_target=x86_64-unknown-linux-musl

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    wrk_seconds=${BENCH_WRK_SECONDS:-2} nar_mib=${BENCH_NAR_MIB:-64} n_paths=${BENCH_PATHS:-50}
    runs=${BENCH_RUNS:-2}
else
    wrk_seconds=${BENCH_WRK_SECONDS:-5} nar_mib=${BENCH_NAR_MIB:-256} n_paths=${BENCH_PATHS:-200}
    runs=${BENCH_RUNS:-5}
fi
seed=${BENCH_SEED:-1}

log() { printf '[static-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in nix nix-build nix-store wrk curl awk sha256sum file; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

# --- the binaries (built with the caller's HOME, so cargo finds its toolchain) --------------
target_dir=${CARGO_TARGET_DIR:-$repo/target}
if [[ -z ${BENCH_GLIBC:-} ]]; then
    log "cargo build --release"
    (cd "$repo" && cargo build --release --locked --quiet)
fi
if [[ -z ${BENCH_MUSL:-} ]]; then
    log "cargo build --release --target $musl_target"
    (cd "$repo" && cargo build --release --locked --quiet --target "$musl_target")
fi
# names[0] is the baseline every other binary is compared with.
names=(glibc musl)
declare -A bin=(
    [glibc]=${BENCH_GLIBC:-$target_dir/release/atuin-bootstrap}
    [musl]=${BENCH_MUSL:-$target_dir/$musl_target/release/atuin-bootstrap}
)
for extra in ${BENCH_ALSO:-}; do
    [[ $extra == ?*=?* ]] || die "BENCH_ALSO takes NAME=PATH words, not '$extra'"
    names+=("${extra%%=*}")
    bin[${extra%%=*}]=${extra#*=}
done
for name in "${names[@]}"; do [[ -x ${bin[$name]} ]] || die "${bin[$name]} ($name) missing"; done
file -L "${bin[musl]}" | grep -q 'static' || die "${bin[musl]} is not a static binary"
base=${names[0]}

# --- private environment and cleanup ---------------------------------------------------------
tmp=$(mktemp -d /tmp/static-bench.XXXXXX)
declare -A pid=()
cleanup() {
    local status=$? name
    for name in "${!pid[@]}"; do
        kill "${pid[$name]}" 2>/dev/null && wait "${pid[$name]}" 2>/dev/null
    done
    if ((status != 0)); then
        for name in "${names[@]}"; do
            [[ -s $tmp/$name.log ]] || continue
            log "last lines of $name's log:"
            tail -n 20 "$tmp/$name.log" >&2
        done
    fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$repo/bench/lib.sh"
bench_private_env

# --- fixtures: the same derivations as cache-bench.sh, so a run of either reuses them --------
bench_write_fixtures cache-bench
log "building fixtures: $n_paths small paths, one ${nar_mib} MiB path (reused if present)"
blob_path=$(build_fixture blob)
top_path=$(build_fixture closure)
mapfile -t closure < <(nix-store -qR "$top_path")
((${#closure[@]} == n_paths + 1)) || die "closure of $top_path has ${#closure[@]} paths, not $((n_paths + 1))"

# --- every server, each on its own port and state dir ------------------------------------------
declare -A url=() nar_url=()
for name in "${names[@]}"; do
    "${bin[$name]}" serve --listen 127.0.0.1:0 --state-dir "$tmp/state-$name" >"$tmp/$name.log" 2>&1 &
    pid[$name]=$!
    for _ in $(seq 100); do
        url[$name]=$(grep -o 'listening on http://[0-9.:]*' "$tmp/$name.log" | cut -d' ' -f3 || true)
        [[ -n ${url[$name]} ]] && curl -sf -o /dev/null "${url[$name]}/api/v1/health" && break
        kill -0 "${pid[$name]}" 2>/dev/null || die "$name server exited during start-up"
        url[$name]=
        sleep 0.1
    done
    [[ -n ${url[$name]} ]] || die "$name server did not answer within 10 s"
    log "$name server: ${url[$name]} (${bin[$name]})"
done

# --- sanity: the same narinfo facts from all, the same NAR bytes (this also warms them up) ---
facts() { curl -sf "$1/$2.narinfo" | grep -E '^(StorePath|URL|NarHash|NarSize|References|Deriver):' | sort; }
for p in "${closure[@]}" "$blob_path"; do
    h=$(hash_of "$p")
    base_facts=$(facts "${url[$base]}" "$h") || die "$base: $h.narinfo failed"
    grep -qxF "StorePath: $p" <<<"$base_facts" || die "$base: $h.narinfo names the wrong path"
    for name in "${names[@]:1}"; do
        [[ $base_facts == "$(facts "${url[$name]}" "$h")" ]] || die "$h.narinfo differs between $base and $name"
    done
done
blob_hash=$(hash_of "$blob_path")
nar_size=$(curl -sf "${url[$base]}/$blob_hash.narinfo" | awk '$1 == "NarSize:" { print $2 }')
nar_rel=$(curl -sf "${url[$base]}/$blob_hash.narinfo" | awk '$1 == "URL:" { print $2 }')
dump_sum=$(nix-store --dump "$blob_path" | sha256sum)
for name in "${names[@]}"; do
    nar_url[$name]=${url[$name]}/$nar_rel
    [[ $(curl -sf "${nar_url[$name]}" | sha256sum) == "$dump_sum" ]] ||
        die "$name: the ${nar_mib} MiB NAR is not nix-store --dump of $blob_path"
done

# --- measurements: every run measures each server once, in an order rotated run by run ---------
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
narinfo_rps() { # NAME
    local out
    out=$(wrk -t2 -c32 -d"${wrk_seconds}s" -s "$tmp/narinfo.lua" "${url[$1]}")
    if grep -Eq 'Non-2xx|Socket errors' <<<"$out"; then
        die "$1: wrk saw errors: $(grep -E 'Non-2xx|Socket errors' <<<"$out")"
    fi
    awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' <<<"$out"
}
nar_mibps() { # NAME
    local code size speed
    read -r code size speed < <(curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}\n' "${nar_url[$1]}")
    [[ $code == 200 && $size == "$nar_size" ]] || die "$1: NAR download gave HTTP $code, $size of $nar_size bytes"
    awk -v s="$speed" 'BEGIN { printf "%.0f\n", s / 1048576 }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b / a }'; }

# Besides each server's median, each run gives every binary's ratio to the baseline, measured
# in the same minute: the median of those ratios is what the table compares, since the VM's
# drift (2-3× within minutes) moves all servers of one run alike.
declare -A rps_runs=() nar_runs=() rps_ratios=() nar_ratios=() this_rps=() this_nar=()
log "$runs runs; each: wrk -t2 -c32 -d${wrk_seconds}s over ${#closure[@]} narinfos, then 2 NAR downloads, per server"
for ((i = 0; i < runs; i++)); do
    shift_by=$((i % ${#names[@]}))
    order=("${names[@]:shift_by}" "${names[@]:0:shift_by}")
    for name in "${order[@]}"; do
        this_rps[$name]=$(narinfo_rps "$name")
        rps_runs[$name]+=" ${this_rps[$name]}"
    done
    for name in "${order[@]}"; do
        a=$(nar_mibps "$name")
        b=$(nar_mibps "$name")
        this_nar[$name]=$((a + b))
        nar_runs[$name]+=" $a $b"
    done
    for name in "${names[@]:1}"; do
        rps_ratios[$name]+=" $(ratio "${this_rps[$base]}" "${this_rps[$name]}")"
        nar_ratios[$name]+=" $(ratio "${this_nar[$base]}" "${this_nar[$name]}")"
    done
done

declare -A rps=() nar=() rss=() size=()
# shellcheck disable=SC2034 # rps, nar, rss and size are read through row's nameref
for name in "${names[@]}"; do
    log "  $name narinfo req/s:${rps_runs[$name]}"
    log "  $name NAR MiB/s:   ${nar_runs[$name]}"
    [[ $name == "$base" ]] || log "  $name / $base per run: narinfo${rps_ratios[$name]}; NAR${nar_ratios[$name]}"
    # shellcheck disable=SC2086 # word splitting of the run lists is the point
    rps[$name]=$(printf '%.0f' "$(median ${rps_runs[$name]})")
    # shellcheck disable=SC2086
    nar[$name]=$(printf '%.0f' "$(median ${nar_runs[$name]})")
    kill -0 "${pid[$name]}" 2>/dev/null || die "the $name server died during the benchmark"
    rss[$name]=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/${pid[$name]}/status")
    size[$name]=$(awk -v b="$(stat -c %s "${bin[$name]}")" 'BEGIN { printf "%.1f", b / 1048576 }')
    if grep -Eiq 'error|panic|warn' "$tmp/$name.log"; then
        log "WARNING: the $name server logged errors or warnings:"
        grep -Ei 'error|panic|warn' "$tmp/$name.log" | head -n 10 >&2
    fi
done

# --- table ---------------------------------------------------------------------------------------
row() { # METRIC UNIT VALUES-ARRAY [RATIOS-ARRAY]: one value per binary, then the ratios
    local -n values=$3
    local line="| $1 |" name r
    for name in "${names[@]}"; do line+=" ${values[$name]}$2 |"; done
    for name in "${names[@]:1}"; do
        if [[ -n ${4:-} ]]; then
            local -n ratios=$4
            # shellcheck disable=SC2086
            r=$(median ${ratios[$name]})
        else
            r=$(ratio "${values[$base]}" "${values[$name]}")
        fi
        line+=" $(awk -v r="$r" 'BEGIN { printf "%.2f", r }')× |"
    done
    echo "$line"
}
echo
echo "static-bench: ${#closure[@]} narinfos, ${nar_mib} MiB NAR, wrk ${wrk_seconds}s, $runs runs (NAR: $((2 * runs)) downloads), $(nproc) cores"
echo
header="| metric |" rule="|---|"
for name in "${names[@]}"; do header+=" $name |" rule+="---|"; done
for name in "${names[@]:1}"; do header+=" $name / $base |" rule+="---|"; done
echo "$header"
echo "$rule"
row "binary size (stripped)" " MiB" size
row "narinfo requests/s (wrk -c32)" "" rps rps_ratios
row "NAR download (${nar_mib} MiB, uncompressed)" " MiB/s" nar nar_ratios
row "server peak RSS (VmHWM)" " MiB" rss
echo
echo "Rates: the median of the runs; a rate's ratio: the median of the runs' ratios."
