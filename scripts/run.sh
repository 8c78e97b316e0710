#!/usr/bin/env bash
# make run: start assentd on embedded SQLite (./data), make a demo user, enroll
# a device for it, and open the Assent app when there is a display (else a
# headless device that listens for pushes in this terminal). Start a sign-in
# from another terminal with: make signin   (password: correct horse battery)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${ASSENT_DATA:-data}
listen=${ASSENT_LISTEN:-127.0.0.1:8080}
# Named localhost, not 127.0.0.1: browsers make passkeys only for a host
# name. Every command below reads the URL from ASSENT_URL.
url=${ASSENT_URL:-http://localhost:${listen##*:}}
export ASSENT_URL="$url"
password="correct horse battery"

mkdir -p "$data"
bin/assentd serve --data "$data" --listen "$listen" 2>>"$data/assentd.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 50); do
	curl -fsS "$url/v1/server" >/dev/null 2>&1 && break
	kill -0 $server 2>/dev/null || { echo "assentd did not start; see $data/assentd.log:" >&2; tail -n 5 "$data/assentd.log" >&2; exit 1; }
	sleep 0.2
done

# The apps the demo signs in to: examples/signin (make signin) is the
# embedded app example-app. Re-runs find it registered already.
register_app() { # NAME TYPE
	local out
	out=$(bin/assentd app add "$1" --type "$2" --data "$data" --listen "$listen" 2>&1) && return 0
	case "$out" in *"registered already"*) return 0 ;; esac
	echo "$out" >&2
	exit 1
}
register_app example-app embedded

# A demo device home; its keys sit in the encrypted file store with a demo
# passphrase (use the OS keychain for real accounts).
export ASSENT_HOME="$data/demo-device" ASSENT_KEYSTORE=file ASSENT_PASSPHRASE=${ASSENT_PASSPHRASE:-demo}
echo "$password" | bin/assentd user add demo --data "$data" --listen "$listen" --email demo@example.com >/dev/null 2>&1 || true
if ! bin/assent accounts 2>/dev/null | grep -q demo; then
	link=$(bin/assentd enroll demo --data "$data" --listen "$listen" | tail -n 1)
	bin/assent enroll "$link" >/dev/null
fi
# How another terminal reaches the server (make signin) and the demo device
# (bin/assent challenges, …).
signin="make signin"
[ -z "${ASSENT_LISTEN:-}" ] || signin="ASSENT_LISTEN=$listen $signin"
[ "$url" = "http://localhost:${listen##*:}" ] || signin="ASSENT_URL=$url $signin"
device_env="ASSENT_HOME=$(cd "$ASSENT_HOME" && pwd) ASSENT_KEYSTORE=file ASSENT_PASSPHRASE=$ASSENT_PASSPHRASE"

# The app's window needs X11 (a Wayland desktop has XWayland's DISPLAY).
if [ -n "${DISPLAY:-}" ]; then
	cat <<MSG

Assent is running at $url with user "demo" (password "$password");
its pages are at $url/account (add a passkey there).
The Assent app is opening, enrolled as demo (its home: $ASSENT_HOME, keys
in the encrypted file store, passphrase "$ASSENT_PASSPHRASE").
Start a sign-in from another terminal:
    $signin
and tap the number it shows in the app. The server logs to $data/assentd.log.
The programs are bin/assent and bin/assentd; the demo device from another terminal:
    $device_env bin/assent accounts
Quit the app (tray or window menu) or press Ctrl-C to stop both.

MSG
	bin/assent app 2>>"$data/app.log"
else
	cat <<MSG

Assent is running at $url with user "demo" (password "$password");
its pages are at $url/account.
No display (DISPLAY is unset), so this terminal is a
headless demo device instead of the app (its home: $ASSENT_HOME, keys in
the encrypted file store, passphrase "$ASSENT_PASSPHRASE"). Start a sign-in
from another terminal:
    $signin
and pick the number it shows here. The server logs to $data/assentd.log.
The programs are bin/assent and bin/assentd; the demo device from another
terminal (its prompts, its codes, an app lock):
    $device_env bin/assent challenges
    $device_env bin/assent lock set
Ctrl-C stops both.

MSG
	bin/assent listen
fi
