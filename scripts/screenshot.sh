#!/usr/bin/env bash
# make screenshot: run the real app under Xvfb against a demo assentd, and
# photograph the account list, a push prompt and a same-device sign-in
# prompt into docs/screenshots/, in the light and the dark theme. Everything runs on a free display and a
# free loopback port, with temporary folders; nothing of yours is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots}
mkdir -p "$out"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/" ./scripts/capture ./scripts/samedevice ./examples/signin

# A free X display and a free loopback port.
for n in $(seq 90 199); do
	if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=":$n"; break; fi
done
for p in $(seq 18500 18599); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
listen="127.0.0.1:$port"
url="http://$listen"

Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
export DISPLAY=$display LANG=en_US.UTF-8

bin/assentd serve --data "$tmp/data" --listen "$listen" --ops-listen off --org "Example Org" >"$tmp/assentd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fsS "$url/v1/server" >/dev/null 2>&1 && break; sleep 0.1; done
password="correct horse battery"
bin/assentd app add example-app --type embedded --data "$tmp/data" --listen "$listen" >/dev/null
echo "$password" | bin/assentd user add demo --data "$tmp/data" --listen "$listen" --email demo@example.com >/dev/null

export ASSENT_HOME="$tmp/home" ASSENT_KEYSTORE=file ASSENT_PASSPHRASE=demo
link=$(bin/assentd enroll demo --data "$tmp/data" --listen "$listen" | tail -n 1)
{
	bin/assent enroll "$link"
	bin/assent add 'otpauth://totp/GitHub:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=GitHub'
	bin/assent add 'otpauth://totp/Google:alice@gmail.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=Google'
	bin/assent add 'otpauth://totp/AWS:alice?secret=KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TFOQ&issuer=AWS&digits=6'
	bin/assent add 'otpauth://hotp/Bank:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Bank&counter=0'
} >/dev/null 2>&1

app=""
start_app() { # theme
	FYNE_THEME=$1 bin/assent app >>"$tmp/app.log" 2>&1 &
	app=$!
	pids+=("$app")
	for _ in $(seq 100); do "$tmp/capture" -title Assent -o /dev/null 2>/dev/null && break; sleep 0.1; done
}
stop_app() { kill "$app"; wait "$app" 2>/dev/null || true; }
# shoot waits for the window to settle (the push channel connects, the
# fonts are drawn) and saves it.
shoot() {
	sleep 2
	"$tmp/capture" -title Assent -o "$out/$1.png" 2>/dev/null
	echo "saved $out/$1.png"
}

for theme in light dark; do
	start_app "$theme"
	shoot "accounts-$theme"
	stop_app
done

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
