#!/usr/bin/env bash
# static-smoke.sh — proves the static musl binary is a working product, not just a link step.
#
# With the one static binary and nothing else of this repository it checks, one line each:
#   * it is static (`file` says static, `ldd` finds no dynamic loader), and it runs;
#   * `links DIR` makes bt, bs, bl and bootstrap-new-machine;
#   * `serve` starts on a tiny git fleet repository and answers /api/v1/health;
#   * `bt --wait hello` has it fetch the repository, evaluate and build with real Nix (exit 0);
#   * `bs` and `bs --json` answer through the links;
#   * a real `nix copy --from` the server into a fresh chroot store, of a fixture path made by
#     `nix build` and of the path the server built, is refused without the server's key and
#     succeeds with it, and the copied bytes match the source (`nix-store --dump`).
#
# Usage: tests/static-smoke.sh [BINARY]
#   BINARY defaults to target/x86_64-unknown-linux-musl/release/atuin-bootstrap (under
#   $CARGO_TARGET_DIR when set). Needs nix (with a running nix-daemon or as root), git, curl,
#   file. Exit 0 when every check passed; otherwise 1 with the failed check's reason.
# Everything but the fixtures in /nix/store lives in a private temp dir, removed on exit.
set -euo pipefail
shopt -s inherit_errexit

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$repo/target}/x86_64-unknown-linux-musl/release/atuin-bootstrap}

# One line per check; the last line counts them ("N passed, N failed", as test runners close).
passed=0
ok() {
    printf 'static-smoke: ok   %s\n' "$*"
    passed=$((passed + 1))
}
fail() {
    printf 'static-smoke: FAIL %s\n' "$*" >&2
    printf 'static-smoke: %d passed, 1 failed\n' "$passed"
    exit 1
}
for tool in nix nix-store git curl file ldd timeout sha256sum; do
    command -v "$tool" >/dev/null || fail "$tool not found"
done
[[ -x $bin ]] || fail "$bin is missing; build it: cargo build --release --target x86_64-unknown-linux-musl"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

tmp=$(mktemp -d /tmp/static-smoke.XXXXXX)
server_pid=
cleanup() {
    local status=$?
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if ((status != 0)) && [[ -s $tmp/server.log ]]; then
        printf 'static-smoke: last lines of the server log:\n' >&2
        tail -n 20 "$tmp/server.log" >&2
    fi
    chmod -R u+w "$tmp" 2>/dev/null || true # the chroot store holds read-only store paths
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private HOME and config, no inherited atuin-bootstrap settings; Nix with flakes and no
# substituters (nothing here may reach the network).
export HOME=$tmp/home XDG_CACHE_HOME=$tmp/home/.cache XDG_CONFIG_HOME=$tmp/home/.config
export XDG_DATA_HOME=$tmp/home/.local/share XDG_STATE_HOME=$tmp/home/.local/state
mkdir -p "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_STATE_HOME"
while read -r var; do unset "$var"; done < <(compgen -e | grep '^ATUIN_BOOTSTRAP_' || true)
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters ='

# --- the binary itself ---------------------------------------------------------------------
file_says=$(file -L "$bin")
[[ $file_says == *"statically linked"* || $file_says == *"static-pie linked"* ]] ||
    fail "file does not call $bin static: $file_says"
ldd_says=$(ldd "$bin" 2>&1 || true)
[[ $ldd_says == *"not a dynamic executable"* || $ldd_says == *"statically linked"* ]] ||
    fail "ldd finds dynamic dependencies in $bin: $ldd_says"
version=$("$bin" --version) || fail "$bin --version failed"
ok "static: $bin: $(grep -o 'static[-a-z]* linked' <<<"$file_says"), ldd: ${ldd_says//[$'\t\n']/}; $version, $(du -h "$bin" | cut -f1)"

"$bin" links "$tmp/bin" >/dev/null || fail "links $tmp/bin failed"
for applet in bt bs bl bootstrap-new-machine; do
    [[ -L $tmp/bin/$applet && $(readlink "$tmp/bin/$applet") == "$bin" ]] ||
        fail "links made no $applet → $bin"
done
ok "links: bt bs bl bootstrap-new-machine → the static binary"

# --- a tiny fleet repository: the package the server builds, and a fixture for nix copy -----
nonce=$(date +%s%N)-$$
mkdir -p "$tmp/fleet"
cat >"$tmp/fleet/flake.nix" <<EOF
{
  outputs = { self }: let
    mk = name: script: derivation {
      inherit name;
      nonce = "$nonce";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" ("PATH=/bin:/usr/bin\n" + script) ];
    };
  in {
    packages.x86_64-linux = {
      hello = mk "static-smoke-hello" ''
        echo "hello from the builder"
        mkdir -p \$out/bin
        printf '#!/bin/sh\necho hello\n' > \$out/bin/hello
        chmod +x \$out/bin/hello
      '';
      fixture = mk "static-smoke-fixture" ''
        mkdir -p \$out/share/deep/er \$out/bin
        head -c 1048583 /dev/urandom > \$out/share/random.bin
        printf 'abc' > \$out/share/deep/er/odd-length
        : > \$out/share/empty
        printf '#!/bin/sh\necho fixture\n' > \$out/bin/fixture
        chmod +x \$out/bin/fixture
        ln -s fixture \$out/bin/link
      '';
    };
    nixosConfigurations.smoke.config.system.build.toplevel = mk "nixos-system-smoke" "echo \$name > \$out";
  };
}
EOF
git -C "$tmp/fleet" init -q -b main
git -C "$tmp/fleet" add flake.nix
git -C "$tmp/fleet" -c user.name=smoke -c user.email=smoke@localhost commit -q -m fleet
fixture=$(nix build --no-link --json "path:$tmp/fleet#fixture" 2>"$tmp/nix-build.log" |
    grep -o '"out":"/nix/store/[^"]*"' | cut -d'"' -f4) ||
    fail "nix build of the fixture failed: $(tail -n 5 "$tmp/nix-build.log")"
[[ -d $fixture ]] || fail "nix build gave no fixture path"
ok "fixture built by nix build: $fixture"

# --- serve --------------------------------------------------------------------------------------
"$bin" serve --listen 127.0.0.1:0 --state-dir "$tmp/state" --repo "$tmp/fleet" \
    --poll-interval 1h >"$tmp/server.log" 2>&1 &
server_pid=$!
server=
for _ in $(seq 100); do
    server=$(grep -o 'listening on http://[0-9.:]*' "$tmp/server.log" | cut -d' ' -f3 || true)
    [[ -n $server ]] && curl -sf -o /dev/null "$server/api/v1/health" && break
    kill -0 "$server_pid" 2>/dev/null || fail "serve exited during start-up"
    server=
    sleep 0.1
done
[[ -n $server ]] || fail "serve did not answer /api/v1/health within 10 s"
export ATUIN_BOOTSTRAP_SERVER=$server
ok "serve: $server/api/v1/health answers"

# --- the clients through the links --------------------------------------------------------------
set +e
bt_out=$(timeout 120 "$tmp/bin/bt" -q --wait hello 2>"$tmp/bt.err")
bt_status=$?
set -e
((bt_status == 0)) || fail "bt --wait hello exited $bt_status: $(tail -n 5 "$tmp/bt.err")"
[[ $bt_out =~ ^[0-9]+$ ]] || fail "bt -q printed '$bt_out', not a job id"
job=$bt_out
ok "bt --wait hello: job $job built, exit 0"

job_json=$("$tmp/bin/bs" "$job" --json) || fail "bs $job --json failed"
grep -q '"state": *"succeeded"' <<<"$job_json" || fail "bs $job --json does not say succeeded: $job_json"
built=$(grep -o '/nix/store/[a-z0-9]*-static-smoke-hello' <<<"$job_json" | head -n 1 || true)
[[ -n $built && -x $built/bin/hello ]] || fail "bs $job --json names no built hello path: $job_json"
status_text=$("$tmp/bin/bs") || fail "bs failed"
grep -Eq "^$job +succeeded +hello " <<<"$status_text" || fail "bs does not show job $job succeeded: $status_text"
ok "bs and bs --json: job $job succeeded, built $built"

# --- nix copy from the server into a fresh chroot store ----------------------------------------
public_key=$("$bin" cache public-key --state-dir "$tmp/state") || fail "cache public-key failed"
curl -sf "$server/api/v1/status" | grep -qF "${public_key#*:}" ||
    fail "/api/v1/status does not show the key $public_key"
copy() { # DEST EXTRA-NIX-CONFIG PATHS… (a fresh HOME each: no narinfo disk cache carried over)
    local dest=$1 extra=$2
    shift 2
    HOME=$dest-home XDG_CACHE_HOME=$dest-home/.cache NIX_CONFIG="$NIX_CONFIG"$'\n'"$extra" \
        timeout 120 nix copy --from "$server" --to "$dest" "$@" 2>"$dest.log"
}
if copy "$tmp/untrusted" "" "$fixture"; then
    fail "nix copy accepted the server's paths without its key being trusted"
fi
grep -qi 'signature' "$tmp/untrusted.log" ||
    fail "nix copy without the key failed for another reason: $(tail -n 3 "$tmp/untrusted.log")"
copy "$tmp/dest" "trusted-public-keys = $public_key" "$fixture" "$built" ||
    fail "nix copy --from $server failed: $(tail -n 5 "$tmp/dest.log")"
for path in "$fixture" "$built"; do
    [[ -e $tmp/dest$path ]] || fail "nix copy left no $path in the chroot store"
    [[ $(nix-store --dump "$tmp/dest$path" | sha256sum) == "$(nix-store --dump "$path" | sha256sum)" ]] ||
        fail "the copy of $path differs from the source"
done
ok "nix copy --from the server: refused without the key; with it, 2 paths copied, bytes match"

kill -0 "$server_pid" 2>/dev/null || fail "the server died during the smoke test"
printf 'static-smoke: %d passed, 0 failed\n' "$passed"
