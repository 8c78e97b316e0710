#!/usr/bin/env bash
# make run: start assentd on embedded SQLite (./data), make a demo user, enroll
# a headless device for it, and listen for pushes. Start a sign-in from
# another terminal with: make signin   (password: demo-password)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${ASSENT_DATA:-data}
listen=${ASSENT_LISTEN:-127.0.0.1:8080}
url="http://$listen"

mkdir -p "$data"
bin/assentd serve --data "$data" --listen "$listen" 2>>"$data/assentd.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 50); do
	curl -fsS "$url/v1/server" >/dev/null 2>&1 && break
	kill -0 $server 2>/dev/null || { echo "assentd did not start; see $data/assentd.log:" >&2; tail -n 5 "$data/assentd.log" >&2; exit 1; }
	sleep 0.2
done

# A demo device home; its keys sit in the encrypted file store with a demo
# passphrase (use the OS keychain for real accounts).
export ASSENT_HOME="$data/demo-device" ASSENT_KEYSTORE=file ASSENT_PASSPHRASE=${ASSENT_PASSPHRASE:-demo}
echo demo-password | bin/assentd user add demo --data "$data" --listen "$listen" --email demo@example.com 2>/dev/null || true
if ! bin/assent accounts | grep -q demo; then
	link=$(bin/assentd enroll demo --data "$data" --listen "$listen" | tail -n 1)
	bin/assent enroll "$link"
fi
cat <<MSG

Assent is running at $url with user "demo" (password "demo-password").
This terminal is the demo device. Start a sign-in from another terminal:
    make signin
and pick the number it shows here. The server logs to $data/assentd.log.
Ctrl-C stops both.

MSG
bin/assent listen
