#!/usr/bin/env bash
# Reproduces the figures of docs/PERFORMANCE.md on this machine: one assentd on
# SQLite, then three on PostgreSQL and NATS, each measured by assent-load at
# several numbers of connected devices, plus the Go benchmarks of the push path.
# Results (JSON and text) go to the folder given as $1 (default perf-results).
#
#   DEVICES=19000 STEPS=1000,5000,10000,19000 RATE=500 CLUSTER_RATE=250 DURATION=20s scripts/perf.sh
#
# A quick check of the script itself (no benchmarks, a few devices):
#
#   BENCH=0 DEVICES=200 STEPS=100,200 TARGET_DEVICES=200 SIGNIN_DEVICES=100 DURATION=2s scripts/perf.sh /tmp/perf
#
# RESTART_DEVICES (default TARGET_DEVICES) sets the devices of the restarts.
#
# At each step the devices connect, the server's memory is read (from each
# node's operator listener, --ops-listen), and pushes run at RATE (a pace one
# node sustains here). Then 1,000 pushes/s with 10,000 devices (the target)
# and as fast as 64 pushes in flight allow; on the single node also whole
# sign-ins at SIGNIN_RATE, and restarts: assent-load runs the node as its
# child, stops it under RESTART_DEVICES connected devices (SIGTERM, then
# SIGKILL), starts it again and times every device's reconnect.
#
# The summary at the end (also in summary.txt) leads with the server's CPU per
# push round trip (its process_cpu_seconds_total over each load window, connect
# cost apart) divided by one ES256 sign plus one verification, both measured
# by assent-load in the same run. ONLY=sqlite stops after the single node.
#
# The load comes from this one machine: the servers run with the per-address
# request throttle off (--source-rate -1), no cap on connections per address
# (--max-conns-per-address 0) and no floor under the answers before a factor
# (--answer-floor 0), which no production server should.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-perf-results}
DEVICES=${DEVICES:-19000}
STEPS=${STEPS:-1000,5000,10000,19000}
RATE=${RATE:-500}
CLUSTER_RATE=${CLUSTER_RATE:-250}
DURATION=${DURATION:-20s}
SIGNIN_RATE=${SIGNIN_RATE:-100}
TARGET_DEVICES=${TARGET_DEVICES:-10000}
SIGNIN_DEVICES=${SIGNIN_DEVICES:-1000}
RESTART_DEVICES=${RESTART_DEVICES:-$TARGET_DEVICES}
BENCH=${BENCH:-1}
PG=${ASSENT_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
NATS=${ASSENT_TEST_NATS:-nats://127.0.0.1:4222}
mkdir -p "$out" bin
go build -o bin/ ./cmd/assentd ./cmd/assent-load
work=$(mktemp -d)
schema=assent_perf_$$
cleanup() {
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

up() {
	for _ in $(seq 100); do
		curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "no assentd at $1" >&2
	exit 1
}

# summary prints, first, the server's CPU per push round trip as a multiple of
# one ES256 sign + one ES256 verify measured in the same assent-load run (the
# headline), then full-speed approvals/s over P-256 verifications/s and the
# CPU per device connect, from every load's JSON so far.
summary() {
	local f loads=(sqlite-steps.json sqlite-target.json sqlite-fullspeed.json sqlite-signin.json cluster-steps.json cluster-target.json cluster-fullspeed.json)
	echo "== summary: server CPU per round trip ÷ (one ES256 sign + one ES256 verify), each from the same run"
	for f in "${loads[@]/#/$out/}"; do
		[ -f "$f" ] || continue
		jq -r --arg n "$(basename "$f" .json)" '
			select(.steps != null) | .es256 as $e | .steps[] | select(.load != null and .load.approved > 0) |
			"\($n), \(.devices) devices, \(.load.mode) at \(if .load.targetRate == 0 then "full speed" else "\(.load.targetRate)/s" end): " +
			"\(.load.cpuPerRoundTripOverES256SignVerify * 100 | round / 100) × crypto " +
			"(\(.load.serverCPUMicrosPerRoundTrip | round) µs per round trip" +
			(if (.load.nodeCPUMicrosPerRoundTrip | length) > 1 then ", per node \(.load.nodeCPUMicrosPerRoundTrip | map(round | tostring) | join("/")) µs" else "" end) +
			"; ES256 sign \(1e6 / $e.signsPerSecond * 10 | round / 10) µs + verify \(1e6 / $e.verificationsPerSecond * 10 | round / 10) µs)" +
			(if .load.serverCPUWaitMicrosPerRoundTrip != null then "; the server waited \(.load.serverCPUWaitMicrosPerRoundTrip | round) µs per round trip for a CPU" else "" end)' "$f"
	done
	for f in "$out"/sqlite-fullspeed.json "$out"/cluster-fullspeed.json; do
		[ -f "$f" ] || continue
		jq -r --arg n "$(basename "$f" .json)" '.p256VerificationsPerSecond as $v | .steps[] | select(.load != null) |
			"\($n): \(.load.approvalsPerSecond | round) approvals/s ÷ \($v | round) P-256 verifications/s = \(.load.approvalsPerSecond / $v * 1000 | round / 1000)"' "$f"
	done
	for f in "${loads[@]/#/$out/}"; do
		[ -f "$f" ] || continue
		jq -r --arg n "$(basename "$f" .json)" 'select(.steps != null) | .steps[] | select(.newConnections > 0) |
			"\($n): \(.newConnections) connects to \(.devices) devices, server CPU \(.serverCPUMicrosPerConnect | round) µs per connect"' "$f"
	done
}

load() { # name, then assent-load flags
	local name=$1
	shift
	echo "== $name"
	bin/assent-load --json "$@" >"$out/$name.json" 2>"$out/$name.log"
	grep -v '^\s*$' "$out/$name.log" | grep -v 'it/s' || true
}

if [ "$BENCH" != 0 ]; then
	echo "== Go benchmarks (the push path and the P-256 floor)"
	go test -run '^$' -bench 'ECDSAVerifyP256|VerifyJWS|SignJWS' -benchtime 2s ./crypto | tee "$out/bench-crypto.txt"
	go test -run '^$' -bench 'PushRoundTrip' -benchtime 3s ./e2e | tee "$out/bench-e2e.txt"
fi

# Every server below: the load's own policy and limits (see the top).
export ASSENT_SEAL_KEY=$(head -c 32 /dev/urandom | base64)
export ASSENT_POLICY=docs/load-policy.yaml ASSENT_SOURCE_RATE=-1 ASSENT_MAX_CONNS_PER_ADDRESS=0 ASSENT_ANSWER_FLOOR=0

# One node on SQLite. The app that sign-in mode signs in to is registered
# before the node starts.
bin/assentd app add load --type embedded --data "$work/one" --listen 127.0.0.1:9200 >/dev/null
bin/assentd serve --data "$work/one" --listen 127.0.0.1:9200 --ops-listen 127.0.0.1:9290 --log-level warn 2>"$work/one.log" &
up http://127.0.0.1:9200
up http://127.0.0.1:9290
tok=$(bin/assentd admin-token --name perf --data "$work/one" --listen 127.0.0.1:9200 2>/dev/null)
common=(--admin-token "$tok" --devices "$DEVICES" --procs 4 --ops http://127.0.0.1:9290)
load sqlite-steps --server http://127.0.0.1:9200 --state "$work/one.json" "${common[@]}" --steps "$STEPS" --rate "$RATE" --duration "$DURATION"
load sqlite-target --server http://127.0.0.1:9200 --state "$work/one.json" "${common[@]}" --steps "$TARGET_DEVICES" --rate 1000 --duration "$DURATION"
load sqlite-fullspeed --server http://127.0.0.1:9200 --state "$work/one.json" "${common[@]}" --steps "$TARGET_DEVICES" --rate 0 --concurrency 64 --duration "$DURATION"
load sqlite-signin --server http://127.0.0.1:9200 --state "$work/one.json" "${common[@]}" --steps "$SIGNIN_DEVICES" --mode signin --rate "$SIGNIN_RATE" --duration "$DURATION"
kill %1
wait %1 2>/dev/null || true
# Restarts of the same node under the same devices: assent-load runs it as
# its child, stops it and starts it again.
for sig in term kill; do
	load "sqlite-restart-$sig" --mode restart --signal "$sig" --server http://127.0.0.1:9200 --ops http://127.0.0.1:9290 --admin-token "$tok" \
		--state "$work/one.json" --devices "$RESTART_DEVICES" \
		-- bin/assentd serve --data "$work/one" --listen 127.0.0.1:9200 --ops-listen 127.0.0.1:9290 --log-level warn
done

if [ "${ONLY:-}" = sqlite ]; then
	summary | tee "$out/summary.txt"
	echo "results in $out/"
	exit 0
fi

# Three nodes on PostgreSQL and NATS, behind one URL.
psql -q "$PG" -c "CREATE SCHEMA $schema"
sep='?'
[[ $PG == *\?* ]] && sep='&'
export ASSENT_DATABASE="$PG${sep}search_path=$schema" ASSENT_NATS="$NATS" ASSENT_URL=http://127.0.0.1:9301
bin/assentd app add load --type embedded --data "$work/n1" --listen 127.0.0.1:9301 >/dev/null
for i in 1 2 3; do
	bin/assentd serve --data "$work/n$i" --listen 127.0.0.1:930$i --ops-listen 127.0.0.1:939$i --log-level warn 2>"$work/n$i.log" &
done
for i in 1 2 3; do
	up http://127.0.0.1:930$i
	up http://127.0.0.1:939$i
done
tok=$(bin/assentd admin-token --name perf --data "$work/n1" --listen 127.0.0.1:9301 2>/dev/null)
nodes=http://127.0.0.1:9301,http://127.0.0.1:9302,http://127.0.0.1:9303
ops=http://127.0.0.1:9391,http://127.0.0.1:9392,http://127.0.0.1:9393
common=(--admin-token "$tok" --devices "$DEVICES" --procs 6 --ops "$ops")
load cluster-steps --server http://127.0.0.1:9301 --nodes "$nodes" --state "$work/three.json" "${common[@]}" --steps "$STEPS" --rate "$CLUSTER_RATE" --duration "$DURATION"
load cluster-target --server http://127.0.0.1:9301 --nodes "$nodes" --state "$work/three.json" "${common[@]}" --steps "$TARGET_DEVICES" --rate 1000 --duration "$DURATION"
load cluster-fullspeed --server http://127.0.0.1:9301 --nodes "$nodes" --state "$work/three.json" "${common[@]}" --steps "$TARGET_DEVICES" --rate 0 --concurrency 64 --duration "$DURATION"
summary | tee "$out/summary.txt"
echo "results in $out/"
