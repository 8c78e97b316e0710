#!/usr/bin/env bash
# make screenshot-web: screenshots of the hosted pages, saved as
# docs/screenshots/web-*.png. It starts a demo assentd (--dev) on a free
# loopback port with a throwaway data folder, adds demo users, and lets
# e2e/webshots drive headless Chromium through the pages while real
# app/core devices approve the pushes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots}
command -v chromium >/dev/null || { echo "Chromium is not installed: run 'make deps'" >&2; exit 1; }

work=$(mktemp -d)
server=""
cleanup() {
	if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/bin/" ./cmd/assentd ./e2e/webshots ./e2e/adminshots
cat >"$work/policy.yaml" <<'YAML'
# The demo policy: every factor on offer, and a department asked once.
signOn:
  - name: Default
    action:
      factors: 2
      authenticators: [push, totp, email, webauthn, samedevice]
      numberChallenge: always
      userVerification: preferred
      reauthenticate: 12h
profile:
  required: [department]
YAML
export ASSENT_DATA="$work/data" ASSENT_POLICY="$work/policy.yaml" ASSENT_ORG="Example Org" ASSENT_DEV=true
mkdir -p "$ASSENT_DATA"
"$work/bin/assentd" serve --listen 127.0.0.1:0 --ops-listen off 2>"$work/assentd.log" &
server=$!
url=""
for _ in $(seq 100); do
	url=$(sed -n 's/.*msg="assentd serving" url=\([^ ]*\).*/\1/p' "$work/assentd.log" | head -n 1)
	[ -n "$url" ] && break
	kill -0 "$server" 2>/dev/null || { echo "assentd did not start:" >&2; cat "$work/assentd.log" >&2; exit 1; }
	sleep 0.1
done
[ -n "$url" ] || { echo "assentd did not say its URL" >&2; exit 1; }
# Again on the port it found, named localhost: browsers make passkeys only
# for a host name.
kill "$server"
wait "$server" 2>/dev/null || true
url="http://localhost:${url##*:}"
export ASSENT_URL="$url"
"$work/bin/assentd" serve --listen "127.0.0.1:${url##*:}" --ops-listen off 2>>"$work/assentd.log" &
server=$!
for _ in $(seq 100); do
	curl -fsS "$url/v1/server" >/dev/null 2>&1 && break
	kill -0 "$server" 2>/dev/null || { echo "assentd did not start again:" >&2; tail -n 5 "$work/assentd.log" >&2; exit 1; }
	sleep 0.1
done

# The hosted pages are opened as the app "intranet" (/signin?app=intranet).
"$work/bin/assentd" app add intranet --type web >/dev/null
# An OpenID Connect client, for the apps page.
"$work/bin/assentd" app add grafana --type oidc --redirect-uri https://grafana.example.com/login/generic_oauth >/dev/null 2>&1
adduser() { echo "correct horse battery" | "$work/bin/assentd" user add "$@" >/dev/null; }
adduser alice --email alice@example.com --group staff
adduser sam --email sam@example.com --group admins --group staff
adduser bob --email bob@example.com
alice=$("$work/bin/assentd" enroll alice | tail -n 1)
sam=$("$work/bin/assentd" enroll sam | tail -n 1)

"$work/bin/webshots" -url "$url" -out "$out" -alice "$alice" -sam "$sam"

# The admin and account pages' device actions: bob's two alike devices
# ("vm"), a push bob reports (his risk goes high), the confirmations of
# revoking and removing a device, and the 404 page, at desktop and phone
# widths.
adduser dana --email dana@example.com --group admins
dana=$("$work/bin/assentd" enroll dana | tail -n 1)
vm1=$("$work/bin/assentd" enroll bob | tail -n 1)
vm2=$("$work/bin/assentd" enroll bob | tail -n 1)
token=$("$work/bin/assentd" admin-token --name screenshots 2>/dev/null)
"$work/bin/adminshots" -url "$url" -out "$out" -admin "$dana" -vm "$vm1,$vm2" -token "$token"
