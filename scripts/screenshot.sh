#!/usr/bin/env bash
# make screenshot: run the real app under Xvfb against a demo assentd, and
# photograph the account list, a push prompt and a same-device sign-in
# prompt into docs/screenshots/, in the light and the dark theme; then the
# push prompt on a 360×640 window, the high-risk prompt that follows a
# "This wasn't me" (no app lock yet, so it offers one), and the app as
# Fyne's mobile simulation draws it on a 360×640 phone (at twice the
# pixels, as a phone would), and an account its server revoked.
# Everything runs on a free display and a
# free loopback port, with temporary folders and binaries built for the
# run; nothing of yours is touched.
set -euo pipefail
# Most desktops show notifications; without a notification service the app
# says once, above the accounts, that this one shows none, and every shot
# would show that notice. So the run gets its own session bus with dunst
# (Debian package "dunst", in make deps) as the service, when it is there;
# without it the shots show the notice.
if [ -z "${ASSENT_SHOTS_BUS:-}" ] && command -v dunst >/dev/null && command -v dbus-run-session >/dev/null; then
	ASSENT_SHOTS_BUS=1 exec dbus-run-session -- "$0" "$@"
fi
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots}
mkdir -p "$out"
tmp=$(mktemp -d)
pids=()
# stop ends a process, forcibly when it outlives a few seconds (the mobile
# simulation does not end on SIGTERM).
stop() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	for p in "${pids[@]}"; do stop "$p"; done
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/" ./cmd/assent ./cmd/assentd ./scripts/capture ./scripts/samedevice ./examples/signin
# The same app as it runs on a phone: Fyne's mobile driver, simulated in
# an X window (no Android toolchain needed).
go build -tags mobile -o "$tmp/assent-mobile" ./cmd/assent
bin=$tmp

# A free X display and a free loopback port.
for n in $(seq 90 199); do
	if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=":$n"; break; fi
done
for p in $(seq 18500 18599); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
listen="127.0.0.1:$port"
url="http://$listen"

Xvfb "$display" -screen 0 1440x1440x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
export DISPLAY=$display LANG=en_US.UTF-8
if [ -n "${ASSENT_SHOTS_BUS:-}" ]; then
	# Its popups go to the screen's top right corner, away from the
	# windows photographed at the top left.
	dunst >"$tmp/dunst.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
			org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null | grep -q true && break
		sleep 0.1
	done
fi

"$bin/assentd" serve --data "$tmp/data" --listen "$listen" --ops-listen off --org "Example Org" >"$tmp/assentd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fsS "$url/v1/server" >/dev/null 2>&1 && break; sleep 0.1; done
password="correct horse battery"
"$bin/assentd" app add example-app --type embedded --data "$tmp/data" --listen "$listen" >/dev/null
echo "$password" | "$bin/assentd" user add demo --data "$tmp/data" --listen "$listen" --email demo@example.com >/dev/null

export ASSENT_HOME="$tmp/home" ASSENT_KEYSTORE=file ASSENT_PASSPHRASE=demo
link=$("$bin/assentd" enroll demo --data "$tmp/data" --listen "$listen" | tail -n 1)
{
	"$bin/assent" enroll "$link"
	"$bin/assent" add 'otpauth://totp/GitHub:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=GitHub'
	"$bin/assent" add 'otpauth://totp/Google:alice@gmail.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=Google'
	"$bin/assent" add 'otpauth://totp/AWS:alice?secret=KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TFOQ&issuer=AWS&digits=6'
	"$bin/assent" add 'otpauth://hotp/Bank:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Bank&counter=0'
} >/dev/null 2>&1

app=""
start_app() { # theme
	FYNE_THEME=$1 "$bin/assent" app >>"$tmp/app.log" 2>&1 &
	app=$!
	pids+=("$app")
	for _ in $(seq 100); do "$tmp/capture" -title Assent -o /dev/null 2>/dev/null && break; sleep 0.1; done
}
stop_app() { stop "$app"; }
# shoot waits for the window to settle (the push channel connects, the
# fonts are drawn) and saves it; a second argument resizes it first (WxH).
shoot() {
	sleep 2
	if [ -n "${2:-}" ]; then
		"$tmp/capture" -title Assent -size "$2" -o "$out/$1.png" 2>/dev/null
	else
		"$tmp/capture" -title Assent -o "$out/$1.png" 2>/dev/null
	fi
	echo "saved $out/$1.png"
}
# shoot_phone runs the app under Fyne's mobile simulation and saves it at
# a phone's 360×640 points. Its window (titled "App") waits for a
# ConfigureNotify that only a window manager would send, and draws
# nothing until then: capture's resize is that event.
# Without a theme it takes the variant the platform says, as on a phone
# (the simulation says light).
shoot_phone() { # name [theme]
	if [ -n "${2:-}" ]; then
		FYNE_THEME=$2 "$bin/assent-mobile" app >>"$tmp/app-mobile.log" 2>&1 &
	else
		env -u FYNE_THEME "$bin/assent-mobile" app >>"$tmp/app-mobile.log" 2>&1 &
	fi
	local m=$!
	pids+=("$m")
	for _ in $(seq 100); do "$tmp/capture" -title App -o /dev/null 2>/dev/null && break; sleep 0.1; done
	"$tmp/capture" -title App -size 720x1280 -wait 4s -o "$out/$1.png" 2>/dev/null
	echo "saved $out/$1.png"
	stop "$m"
}

for theme in light dark; do
	start_app "$theme"
	shoot "accounts-$theme"
	stop_app
done
shoot_phone phone-accounts
shoot_phone phone-accounts-dark dark

# A sign-in as an app would make it: the push waits on the server until it
# is answered or expires, so both themes show the same prompt.
echo "$password" | "$tmp/signin" --server "$url" --login demo >"$tmp/signin.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "push was sent" "$tmp/signin.log" && break; sleep 0.1; done
for theme in light dark; do
	start_app "$theme"
	shoot "prompt-$theme"
	stop_app
done
# The same prompt on a small phone's screen: the numbers and Deny stay at
# the bottom, the details scroll.
start_app light
shoot prompt-360x640 360x640
stop_app
shoot_phone phone-prompt light

# A same-device sign-in: a page of the server (played by scripts/samedevice,
# which asks every port of the loopback range with the server's Origin, as
# the hosted page does) asks the app on this computer; the app asks the
# person. It comes before the waiting push.
for theme in light dark; do
	start_app "$theme"
	log="$tmp/samedevice-$theme.log"
	echo "$password" | "$tmp/samedevice" --server "$url" --login demo >"$log" 2>&1 &
	sd=$!
	pids+=("$sd")
	for _ in $(seq 100); do grep -q "Asking the Assent app" "$log" && break; sleep 0.1; done
	if ! grep -q "Asking the Assent app" "$log"; then
		echo "same-device sign-in did not start:" >&2
		cat "$log" >&2
		exit 1
	fi
	name=samedevice
	[ "$theme" = light ] || name="samedevice-$theme"
	shoot "$name"
	stop_app
	kill "$sd" 2>/dev/null || true
done

# "This wasn't me" on the waiting push makes the next sign-ins high risk,
# and a high-risk sign-in asks the device to verify the person. With no
# app lock set, the prompt says so and offers to set one.
id=$("$bin/assent" challenges --json 2>/dev/null | grep -o '"id": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/' || true)
if [ -z "$id" ]; then
	echo "no waiting push to report" >&2
	exit 1
fi
"$bin/assent" deny "$id" --report >/dev/null 2>&1
echo "$password" | "$tmp/signin" --server "$url" --login demo >"$tmp/signin2.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "push was sent" "$tmp/signin2.log" && break; sleep 0.1; done
for theme in light dark; do
	start_app "$theme"
	shoot "prompt-highrisk-$theme"
	stop_app
done
start_app light
shoot prompt-highrisk-360x640 360x640
stop_app
shoot_phone phone-prompt-highrisk light

# An account whose enrollment its server revoked: a copy of the home keeps
# the account while the original removes it (which revokes it on the
# server); the copy then learns of the revocation when it connects.
cp -a "$ASSENT_HOME" "$tmp/home-revoked"
"$bin/assent" remove "Example Org:demo" --force >"$tmp/remove.log" 2>&1 || { cat "$tmp/remove.log" >&2; exit 1; }
ASSENT_HOME="$tmp/home-revoked" start_app light
shoot accounts-revoked
stop_app
