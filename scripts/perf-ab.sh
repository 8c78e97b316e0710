#!/usr/bin/env bash
# Measures two builds of assentd in one run, one node on SQLite each, each
# driven by its own build of assent-load (so that a change to how a client
# drives the server, such as how a sign-in polls, is measured with it) with
# the same loads, alternating between them round by round, so that both see
# the same machine:
#
#   scripts/perf-ab.sh BASE [OUT]        # BASE: a commit, e.g. HEAD~1
#   ROUNDS=3 DEVICES=2000 DURATION=20s scripts/perf-ab.sh 54259ea /tmp/ab
#   LOADS=signin scripts/perf-ab.sh HEAD~1   # some of the loads only
#   CLUSTER=1 LOADS="250 full" scripts/perf-ab.sh HEAD~1   # three nodes
#
# With CLUSTER=1 each build runs as three nodes on PostgreSQL
# (ASSENT_TEST_POSTGRES, a schema of its own per build) and NATS
# (ASSENT_TEST_NATS), behind --nodes, as scripts/perf.sh runs them; the CPU
# per round trip is then the three nodes' together.
#
# "before" is BASE, "after" is the working tree. Each round runs, on each
# build: pushes at 250/s and at 500/s, pushes as fast as 64 in flight allow,
# and whole passwordless sign-ins as fast as 32 in flight allow
# (docs/load-policy.yaml). Every assent-load run connects the devices anew
# (the server's CPU per connect) and reads the server's CPU per round trip
# against one ES256 sign + verify measured in that run. The table at the end
# (also OUT/ab.txt) has every figure per build and round.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/perf-ab.sh BASE [OUT]}
out=${2:-perf-ab}
ROUNDS=${ROUNDS:-3}
DEVICES=${DEVICES:-2000}
DURATION=${DURATION:-20s}
LOADS=${LOADS:-250 500 full signin}
CLUSTER=${CLUSTER:-0}
PG=${ASSENT_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
NATS=${ASSENT_TEST_NATS:-nats://127.0.0.1:4222}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
cleanup() {
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	if [ "$CLUSTER" = 1 ]; then
		for b in before after; do psql -q "$PG" -c "DROP SCHEMA IF EXISTS assent_ab_${b}_$$ CASCADE" 2>/dev/null || true; done
	fi
	git worktree remove --force "$work/base-src" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

git worktree add --detach "$work/base-src" "$base" >/dev/null
(cd "$work/base-src" && go build -o "$work/before/" ./cmd/assentd ./cmd/assent-load)
go build -o "$work/after/" ./cmd/assentd ./cmd/assent-load

export ASSENT_SEAL_KEY=$(head -c 32 /dev/urandom | base64)
export ASSENT_POLICY=docs/load-policy.yaml ASSENT_SOURCE_RATE=-1 ASSENT_MAX_CONNS_PER_ADDRESS=0 ASSENT_ANSWER_FLOOR=0

up() {
	for _ in $(seq 150); do
		curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "no assentd at $1" >&2
	exit 1
}

# One node (one data folder per build) or three (a PostgreSQL schema per
# build), listening from 127.0.0.1:9500 or :9501 on; the devices are
# enrolled in the first round.
if [ "$CLUSTER" = 1 ]; then
	nodes=(1 2 3)
	listen=127.0.0.1:9501
	server=http://$listen
	target=(--nodes http://127.0.0.1:9501,http://127.0.0.1:9502,http://127.0.0.1:9503
		--ops http://127.0.0.1:9591,http://127.0.0.1:9592,http://127.0.0.1:9593 --procs 6)
	sep='?'
	[[ $PG == *\?* ]] && sep='&'
	export ASSENT_NATS="$NATS" ASSENT_URL=$server
else
	nodes=(0)
	listen=127.0.0.1:9500
	server=http://$listen
	target=(--ops http://127.0.0.1:9590 --procs 2)
fi
env_of() { # build: the environment its nodes share
	if [ "$CLUSTER" = 1 ]; then
		echo "ASSENT_DATABASE=$PG${sep}search_path=assent_ab_${1}_$$"
	else
		echo "ASSENT_AB=1"
	fi
}
for b in before after; do
	[ "$CLUSTER" = 1 ] && psql -q "$PG" -c "CREATE SCHEMA assent_ab_${b}_$$"
	env "$(env_of "$b")" "$work/$b/assentd" app add load --type embedded --data "$work/data-$b-${nodes[0]}" --listen "$listen" >/dev/null
done

run() { # build, round, name, assent-load flags
	local b=$1 r=$2 name=$3 n
	shift 3
	"$work/$b/assent-load" --json --server "$server" "${target[@]}" --admin-token "$tok" \
		--state "$work/state-$b.json" --devices "$DEVICES" --steps "$DEVICES" --duration "$DURATION" "$@" \
		>"$out/$b-$r-$name.json" 2>"$out/$b-$r-$name.log"
	# The group commits' counters after the load (batch sizes).
	: >"$out/$b-$r-$name.metrics"
	for n in "${nodes[@]}"; do
		curl -fsS "http://127.0.0.1:959$n/metrics" 2>/dev/null | grep '^assent_group_commit' | sed "s/^/node$n /" >>"$out/$b-$r-$name.metrics" || true
	done
}

for r in $(seq "$ROUNDS"); do
	for b in before after; do
		echo "== round $r, $b"
		pids=()
		for n in "${nodes[@]}"; do
			env "$(env_of "$b")" "$work/$b/assentd" serve --data "$work/data-$b-$n" --listen "127.0.0.1:950$n" --ops-listen "127.0.0.1:959$n" \
				--log-level warn 2>>"$out/$b-server$n.log" &
			pids+=($!)
		done
		for n in "${nodes[@]}"; do
			up "http://127.0.0.1:950$n"
			up "http://127.0.0.1:959$n"
		done
		tok=$(env "$(env_of "$b")" "$work/$b/assentd" admin-token --name ab --data "$work/data-$b-${nodes[0]}" --listen "$listen" 2>/dev/null)
		for name in $LOADS; do
			case $name in
			250 | 500) run "$b" "$r" "$name" --rate "$name" ;;
			full) run "$b" "$r" full --rate 0 --concurrency 64 ;;
			signin) run "$b" "$r" signin --mode signin --rate 0 --concurrency 32 ;;
			*) echo "unknown load $name (LOADS: 250 500 full signin)" >&2; exit 2 ;;
			esac
		done
		kill "${pids[@]}"
		wait "${pids[@]}" 2>/dev/null || true
	done
done

# The table: one line per build, round and load.
{
	printf '%-6s %-5s %-7s %9s %9s %9s %9s %10s %9s %10s %10s %10s\n' build round load "p50 ms" "p99 ms" "per s" "µs/rt" "× ES256" "µs/conn" "B/conn" "ES256 µs" "wait/rt"
	for r in $(seq "$ROUNDS"); do
		for name in $LOADS; do
			for b in before after; do
				jq -r --arg b "$b" --arg r "$r" --arg n "$name" '.steps[-1] as $s | $s.load as $l |
					[$b, $r, $n, ($l.roundTripP50ms*100|round/100), ($l.roundTripP99ms*100|round/100), ($l.approvalsPerSecond|round),
					 ($l.serverCPUMicrosPerRoundTrip|round), ($l.cpuPerRoundTripOverES256SignVerify*100|round/100),
					 ($s.serverCPUMicrosPerConnect|round), ($s.serverBytesPerConnection|round), (.es256.signPlusVerifyMicros*10|round/10),
					 (($l.serverCPUWaitMicrosPerRoundTrip // 0)|round)] |
					@tsv' "$out/$b-$r-$name.json" |
					awk -F'\t' '{printf "%-6s %-5s %-7s %9s %9s %9s %9s %10s %9s %10s %10s %10s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12}'
			done
		done
	done
} | tee "$out/ab.txt"
