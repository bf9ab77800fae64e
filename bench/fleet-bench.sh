#!/usr/bin/env bash
# fleet-bench.sh — the fleet view's cost when the box has a long history: a fleet repository of
# BENCH_COMMITS commits (default 10,000) and BENCH_JOBS succeeded builds of its two hosts at
# older commits (default 3,000, written straight into the job database), so each look must
# pick every host's newest build *on the branch* by git ancestry. Prints the first look
# (listing the hosts with `nix eval`, reading the builds; the branch was numbered when the
# first build ended), the steady look (kept until a job succeeds or the branch moves) and an
# offline `gc` (which numbers the branch from scratch). Needs Nix, git, sqlite3, curl, bc.
#   bench/fleet-bench.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(cd "$repo" && cargo build --release --quiet)
bin=$repo/target/release/atuin-bootstrap
commits=${BENCH_COMMITS:-10000}
jobs=${BENCH_JOBS:-3000}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_private_env

# The repository: a flake with two hosts in the first commit, then a counter file per commit.
flake='{ outputs = { self }: let sys = n: derivation { name = "fleet-bench-${n}"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ${n} > $out" ]; }; in { nixosConfigurations.laptop.config.system.build.toplevel = sys "laptop"; nixosConfigurations.desktop.config.system.build.toplevel = sys "desktop"; }; }'
git init -q -b main "$tmp/repo"
for ((i = 0; i < commits; i++)); do
    if ((i == 0)); then name=flake.nix content=$flake; else name=counter content=$i; fi
    printf 'commit refs/heads/main\nmark :%d\ncommitter B <b@b> %d +0000\ndata 2\nc\n' $((i + 1)) $((1700000000 + i))
    ((i > 0)) && printf 'from :%d\n' "$i"
    printf 'M 644 inline %s\ndata %d\n%s\n' "$name" "${#content}" "$content"
done | git -C "$tmp/repo" fast-import --quiet

port=$((20000 + RANDOM % 20000))
printf '[server]\nstate_dir = "%s/state"\n[repo]\nurl = "%s/repo"\npoll_interval = "1h"\n' "$tmp" "$tmp" >"$tmp/config.toml"
"$bin" --config "$tmp/config.toml" serve --listen "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
pid=$!
url=http://127.0.0.1:$port
until curl -sf "$url/api/v1/jobs" | grep -q '"succeeded"'; do sleep 0.2; done

# Old builds, newest job last: what `bt --rev` of older commits leaves behind.
template=$(sqlite3 -separator $'\t' "$tmp/state/jobs.sqlite" "SELECT targets, attrs FROM jobs WHERE id = 1")
targets=${template%%$'\t'*} attrs=${template#*$'\t'}
git -C "$tmp/repo" rev-list --skip=1 main | shuf -n "$jobs" -r --random-source=<(yes) | awk -v t="$targets" -v a="$attrs" '
    BEGIN { q = "\x27"; print "BEGIN;" }
    { printf "INSERT INTO jobs (state, targets, attrs, dedupe_key, rev, trigger, created_at, started_at, finished_at, outputs) VALUES (%ssucceeded%s, %s%s%s, %s%s%s, %s%s %d%s, %s%s%s, %sapi%s, %s2026-12-04T00:00:00Z%s, %s2026-12-04T00:00:00Z%s, %s2026-12-04T00:00:01Z%s, %s{\"desktop\":\"/nix/store/%032d-d\",\"laptop\":\"/nix/store/%032d-l\"}%s);\n", q, q, q, t, q, q, a, q, q, $1, NR, q, q, $1, q, q, q, q, q, q, q, q, q, q, NR, NR, q }
    END { print "COMMIT;" }' | sqlite3 "$tmp/state/jobs.sqlite"

look() { curl -s -o /dev/null -w '%{time_total}' "$url/api/v1/hosts"; }
first=$(look)
steady=()
for _ in $(seq 20); do steady+=("$(look)"); done
median=$(printf '%s\n' "${steady[@]}" | sort -n | sed -n 10p)
newest=$(curl -s "$url/api/v1/hosts/laptop" | grep -o '"latest":{[^}]*"job":[0-9]*' | grep -o '[0-9]*$')
start=$(date +%s.%N)
"$bin" --config "$tmp/config.toml" gc >/dev/null 2>&1
gc=$(echo "$(date +%s.%N) - $start" | bc)

echo "fleet-bench: $(nproc) cores, release build, $commits commits, $jobs old builds of 2 hosts"
echo
echo "| metric | value |"
echo "|---|---|"
printf '| first look at /api/v1/hosts | %.0f ms |\n' "$(echo "$first * 1000" | bc)"
printf '| steady look (median of 20) | %.2f ms |\n' "$(echo "$median * 1000" | bc)"
printf '| offline gc (numbers the branch afresh) | %.0f ms |\n' "$(echo "$gc * 1000" | bc)"
echo "| laptop's latest is job | $newest (the tip's build, not job $((jobs + 1))) |"
