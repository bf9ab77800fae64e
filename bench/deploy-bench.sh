#!/usr/bin/env bash
# deploy-bench.sh — the whole loop, timed: from a new commit in the fleet repository to every
# host of a 3-host fixture fleet running it, with each host's `deploy --watch` asking every
# 2 s and the box polling the repository every 2 s; and the idle memory of a watching agent.
# Hosts are fixture systems (a derivation with nixos-version and bin/switch-to-configuration,
# which deploy takes for a NixOS system), each with its own
# profile, current-system link and deploy state, as in the integration tests. Needs Nix, git.
#   bench/deploy-bench.sh            (BENCH_ROUNDS=N commits, default 5)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(cd "$repo" && cargo build --release --quiet)
bin=$repo/target/release/atuin-bootstrap
rounds=${BENCH_ROUNDS:-5}
interval=2s
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\n'
hosts=(alpha beta gamma)

write_flake() {
    {
        cat <<EOF
{
  outputs = { self }: let
    version = "$1";
    system = name: derivation {
      name = "nixos-system-\${name}-\${version}";
      nonce = "$tmp";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" ''
        PATH=/bin:/usr/bin
        mkdir -p \$out/bin
        echo "\${version}" > \$out/nixos-version
        printf '#!/bin/sh\nln -sfn %s "\$DEPLOY_TEST_CURRENT"\n' \$out > \$out/bin/switch-to-configuration
        chmod +x \$out/bin/switch-to-configuration
      '' ];
    };
  in {
EOF
        for h in "${hosts[@]}"; do
            echo "    nixosConfigurations.$h.config.system.build.toplevel = system \"$h\";"
        done
        echo "  };"
        echo "}"
    } >"$tmp/fleet/flake.nix"
    git -C "$tmp/fleet" add -A
    git -C "$tmp/fleet" -c user.name=b -c user.email=b@b commit -qm "v$1"
}

mkdir -p "$tmp/fleet"
git -C "$tmp/fleet" init -q -b main
write_flake 0
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/server.toml" <<EOF
[server]
state_dir = "$tmp/state"
listen = "127.0.0.1:$port"
[repo]
url = "$tmp/fleet"
poll_interval = "$interval"
EOF
HOME=$tmp "$bin" --config "$tmp/server.toml" serve 2>"$tmp/server.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done

for h in "${hosts[@]}"; do
    d=$tmp/host-$h
    mkdir -p "$d"
    cat >"$d/config.toml" <<EOF
[client]
server = "http://127.0.0.1:$port"
[deploy]
host = "$h"
interval = "$interval"
profile = "$d/profiles/system"
current_system = "$d/current-system"
state_dir = "$d/state"
EOF
    HOME=$d DEPLOY_TEST_CURRENT=$d/current-system "$bin" --config "$d/config.toml" deploy --watch \
        >/dev/null 2>"$d/deploy.log" &
    pids+=($!)
    echo $! >"$d/pid"
done

# Every host runs the build of version $1.
all_run() {
    for h in "${hosts[@]}"; do
        readlink "$tmp/host-$h/current-system" 2>/dev/null | grep -q -- "-$h-$1\$" || return 1
    done
}
wait_until() {
    local deadline=$((SECONDS + 120))
    until "$@"; do
        ((SECONDS < deadline)) || { echo "timed out waiting for: $*" >&2; exit 1; }
        sleep 0.02
    done
}
wait_until all_run 0

times=()
for round in $(seq 1 "$rounds"); do
    start=$(date +%s.%N)
    write_flake "$round"
    wait_until all_run "$round"
    end=$(date +%s.%N)
    times+=("$(python3 -c "print($end - $start)")")
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
min=$(echo "$sorted" | head -1)
max=$(echo "$sorted" | tail -1)
median=$(echo "$sorted" | sed -n "$(((rounds + 1) / 2))p")

sleep 3 # every agent idle between asks
rss=()
for h in "${hosts[@]}"; do
    pid=$(cat "$tmp/host-$h/pid")
    rss+=("$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")")
done
max_rss=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)

echo "deploy-bench: $(nproc) cores, release build, 3 hosts, repo poll and deploy interval $interval, $rounds commits"
echo
echo "| metric | value | goal |"
echo "|---|---|---|"
printf '| commit → every host runs it (min / median / max) | %.2f s / %.2f s / %.2f s | ≈ poll + build + interval |\n' "$min" "$median" "$max"
printf '| agent idle RSS (largest of 3) | %.1f MiB | < 15 MiB |\n' "$(python3 -c "print($max_rss / 1024)")"
