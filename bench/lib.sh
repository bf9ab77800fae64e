# shellcheck shell=bash disable=SC2154  # tmp, n_paths, nar_mib, seed: set by the caller
# bench/lib.sh — what the benchmark scripts share, sourced after they made "$tmp": a private
# environment (their own HOME and XDG dirs, no ATUIN_BOOTSTRAP_* from the caller, Nix with no
# substituters), the fixture derivations of the cache benchmarks, and store-path helpers.

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

# The hash part of a store path.
hash_of() { local base=${1##*/}; echo "${base%%-*}"; }
