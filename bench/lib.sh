# shellcheck shell=bash disable=SC2154,SC2034  # tmp, seed, log, die: the caller's; sizes: its
# bench/lib.sh — what the benchmark scripts share: the sizes of a quick and a full run, a
# private environment (their own HOME and XDG dirs, no ATUIN_BOOTSTRAP_* from the caller, Nix
# with no substituters), the fixture derivations of the cache benchmarks, store-path helpers,
# free ports and the end of a cleanup. Sourced at the start; what uses "$tmp" is called after
# the caller made it, and what reports uses the caller's `log` and `die`.

# Sizes: a quick look with BENCH_QUICK=1, else the full run, each overridable (BENCH_PATHS,
# BENCH_NAR_MIB, BENCH_RUNS, BENCH_COMPRESSIONS). Sets n_paths, nar_mib, runs and
# compressions ($1 for a quick run, $2 for a full one).
bench_sizes() {
    if [[ ${BENCH_QUICK:-0} == 1 ]]; then
        n_paths=${BENCH_PATHS:-50} nar_mib=${BENCH_NAR_MIB:-32} runs=${BENCH_RUNS:-1}
        compressions=${BENCH_COMPRESSIONS:-$1}
    else
        n_paths=${BENCH_PATHS:-200} nar_mib=${BENCH_NAR_MIB:-256} runs=${BENCH_RUNS:-3}
        compressions=${BENCH_COMPRESSIONS:-$2}
    fi
}

# The end of a cleanup, once the bench's processes are stopped: when it failed (exit status
# $1), the last lines of "$tmp/server.log"; then "$tmp" goes, or stays with BENCH_KEEP=1.
bench_remove_tmp() {
    if (($1 != 0)) && [[ -s $tmp/server.log ]]; then
        log "failed; last lines of $tmp/server.log:"
        tail -n 30 "$tmp/server.log" >&2
    fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $tmp"
    else
        chmod -R u+w "$tmp" 2>/dev/null || true # chroot stores hold read-only store paths
        rm -rf "$tmp"
    fi
}

# A free port on loopback (nothing answers a connect).
free_port() {
    local port
    for ((port = 20000 + RANDOM % 20000; ; port++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

# A private environment under "$tmp/home"; Nix never reaches the network.
bench_private_env() {
    export HOME=$tmp/home XDG_CACHE_HOME=$tmp/home/.cache XDG_CONFIG_HOME=$tmp/home/.config
    export XDG_DATA_HOME=$tmp/home/.local/share XDG_STATE_HOME=$tmp/home/.local/state
    mkdir -p "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_STATE_HOME"
    local var
    while read -r var; do unset "$var"; done < <(compgen -e | grep '^ATUIN_BOOTSTRAP_' || true)
    export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters ='
}

# Writes "$tmp/bench.nix": `blob` (one path holding one incompressible file of blobBytes) and
# `closure` (n small paths and a top path referring to them all: n + 1 paths), their names
# starting with $1 (e.g. cache-bench). Scripts that share a prefix share the built paths.
bench_write_fixtures() {
    sed "s/@PREFIX@/$1/g" >"$tmp/bench.nix" <<'NIX'
{ n, blobBytes, seed }:
let
  mk = name: script: attrs: derivation ({
    inherit name seed;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
    PATH = "/bin:/usr/bin";
  } // attrs);
  small = i: mk "@PREFIX@-small-${toString i}"
    ''mkdir $out && echo "$seed ${toString i}" > $out/id && head -c 3072 /dev/urandom | base64 > $out/data'' { };
in {
  blob = mk "@PREFIX@-blob" ''mkdir $out && head -c $bytes /dev/urandom > $out/blob''
    { bytes = toString blobBytes; };
  closure = mk "@PREFIX@-closure" ''mkdir $out && for p in $refs; do echo $p; done > $out/refs''
    { refs = builtins.genList small n; };
}
NIX
}

# Builds attribute $1 of "$tmp/bench.nix" with $n_paths, $nar_mib and $seed; prints its path.
build_fixture() {
    nix-build --no-out-link --max-jobs 2 --quiet "$tmp/bench.nix" -A "$1" \
        --arg n "$n_paths" --arg blobBytes "$((nar_mib * 1048576))" --argstr seed "$seed"
}

# Writes the fixtures named $1 (see bench_write_fixtures) and builds them with the sizes:
# sets blob_path, top_path and closure (the n_paths + 1 paths of the top's closure).
bench_build_fixtures() {
    bench_write_fixtures "$1"
    log "building fixtures: $n_paths small paths + top, one ${nar_mib} MiB path"
    blob_path=$(build_fixture blob)
    top_path=$(build_fixture closure)
    mapfile -t closure < <(nix-store -qR "$top_path")
    ((${#closure[@]} == n_paths + 1)) || die "closure has ${#closure[@]} paths, not $((n_paths + 1))"
}

# The hash part of a store path.
hash_of() { local base=${1##*/}; echo "${base%%-*}"; }
