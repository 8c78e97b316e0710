#!/usr/bin/env bash
# The longer fault runs of docs/RELIABILITY.md, on this machine:
#
#   1. kill -9 under load: assentd (SQLite) runs as a child of assent-load,
#      devices approve test pushes, the server is killed with SIGKILL and
#      started again, KILL_ROUNDS times on the same data. After each round
#      `assent-load audit-check` reads the database: every challenge has
#      its push.sent audit event, every settled one its push.<status>
#      event, every push the server acknowledged is stored (but those
#      nobody had answered when the kill came: one node keeps them in
#      memory, and a crash takes them) and every approval it confirmed is
#      approved; `assentd audit verify` checks the audit chain.
#   2. Server restart with RESTART_DEVICES devices reconnecting (each
#      count, SIGTERM): reconnect times from the server ready and from the
#      drop, devices not back within RECONNECT_DEADLINE, the server's CPU.
#   3. The full-disk and backup tests of e2e (go test ./e2e -run E2E_RUN).
#
# Results (JSON, logs, the records of acknowledged pushes) go to the folder
# given as $1 (default fault-results). The script runs every step and exits
# non-zero if any check failed.
#
#   scripts/faults.sh
#   RESTART_DEVICES=1000,10000 KILL_ROUNDS=3 scripts/faults.sh /tmp/faults
#
# A quick check of the script itself:
#
#   KILL_DEVICES=20 KILL_ROUNDS=1 KILL_LOAD=2s RESTART_DEVICES=50 E2E=0 scripts/faults.sh /tmp/faults
#
# Like scripts/perf.sh, the servers run with the per-address throttle off
# (--source-rate -1) and no cap on connections per address
# (--max-conns-per-address 0): every device is on this machine.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-fault-results}
KILL_DEVICES=${KILL_DEVICES:-200}
KILL_RATE=${KILL_RATE:-400}
KILL_LOAD=${KILL_LOAD:-5s}
KILL_ROUNDS=${KILL_ROUNDS:-5}
RESTART_DEVICES=${RESTART_DEVICES:-1000}
RECONNECT_DEADLINE=${RECONNECT_DEADLINE:-2m}
E2E=${E2E:-1}
E2E_RUN=${E2E_RUN:-TestFullDisk|TestBackup}
mkdir -p "$out" bin
go build -o bin/ ./cmd/assentd ./cmd/assent-load || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()

export ASSENT_SEAL_KEY=$(head -c 32 /dev/urandom | base64)
export ASSENT_SOURCE_RATE=-1 ASSENT_MAX_CONNS_PER_ADDRESS=0

# check NAME COMMAND...: runs a check, its output to $out/NAME.txt and here.
check() {
	local name=$1
	shift
	echo "== $name"
	if "$@" >"$out/$name.txt" 2>&1; then
		sed 's/^/   /' "$out/$name.txt"
	else
		sed 's/^/   /' "$out/$name.txt"
		echo "   FAILED: $name"
		failed+=("$name")
	fi
}

# restart NAME DATA LISTEN OPS STATE assent-load-flags...: one run of
# assent-load --mode restart with a child assentd on DATA.
restart() {
	local name=$1 data=$2 listen=$3 ops=$4 state=$5
	shift 5
	local tok
	tok=$(bin/assentd admin-token --name faults --data "$data" --listen "$listen" 2>/dev/null) || {
		echo "   FAILED: no admin token for $data"
		failed+=("$name")
		return
	}
	echo "== $name"
	if bin/assent-load --mode restart --json --server "http://$listen" --ops "http://$ops" --admin-token "$tok" --state "$state" \
		--reconnect-deadline "$RECONNECT_DEADLINE" "$@" \
		-- bin/assentd serve --data "$data" --listen "$listen" --ops-listen "$ops" --log-level warn \
		>"$out/$name.json" 2>"$out/$name.log"; then
		grep -v '^\s*$' "$out/$name.log" | sed 's/^/   /'
	else
		sed 's/^/   /' "$out/$name.log"
		echo "   FAILED: $name"
		failed+=("$name")
	fi
	# Devices not back within the deadline fail the run too.
	if [ -s "$out/$name.json" ] && ! grep -q '"failedWithinDeadline": 0,' "$out/$name.json"; then
		echo "   FAILED: devices not back within $RECONNECT_DEADLINE"
		failed+=("$name-deadline")
	fi
}

# 1. kill -9 under load, KILL_ROUNDS times on one database.
for round in $(seq "$KILL_ROUNDS"); do
	restart "kill-$round" "$work/kill" 127.0.0.1:9500 127.0.0.1:9590 "$work/kill.json" \
		--devices "$KILL_DEVICES" --signal kill --sole-node --rate "$KILL_RATE" --duration "$KILL_LOAD" --record "$out/kill-$round.csv"
	check "kill-$round-audit-check" bin/assent-load audit-check --data "$work/kill" --record "$out/kill-$round.csv"
	check "kill-$round-audit-verify" bin/assentd audit verify --data "$work/kill"
done

# 2. Restart with many devices reconnecting.
for n in ${RESTART_DEVICES//,/ }; do
	restart "restart-$n" "$work/restart" 127.0.0.1:9600 127.0.0.1:9690 "$work/restart.json" --devices "$n" --signal term
done

# 3. Full disk and backups (other tests of their own).
if [ "$E2E" != 0 ]; then
	check e2e-faults go test -count=1 -v -run "$E2E_RUN" ./e2e
	# A skipped test (the full-disk one needs root) is not a pass: say so.
	if grep -q -- '--- SKIP' "$out/e2e-faults.txt"; then
		echo "   NOT RUN (skipped):"
		grep -A1 -- '--- SKIP' "$out/e2e-faults.txt" | sed 's/^/     /'
	fi
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]} (results in $out/)"
	exit 1
fi
echo "every fault check passed; results in $out/"
