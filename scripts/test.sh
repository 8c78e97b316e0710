#!/usr/bin/env bash
# The one test command: formatting, vet (here and for Android), and every
# test with the race detector, with a real Secret Service (gnome-keyring in
# a private D-Bus session) for the keychain tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# The PostgreSQL and NATS tests fail without the services: use this
# machine's (CI's .ci/run points at its own) unless others are named.
export ASSENT_TEST_POSTGRES=${ASSENT_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
export ASSENT_TEST_NATS=${ASSENT_TEST_NATS:-nats://127.0.0.1:4222}

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" $unformatted >&2
	exit 1
fi
# -tags ci: Fyne's headless driver, so the app's packages build and test
# without a display (plain 'go vet ./...' works too, with make deps).
go vet -tags ci ./...
# The app's core and everything below it must build for Android, without cgo
# (android/amd64 always needs cgo, so check the phones' architecture).
GOOS=android GOARCH=arm64 CGO_ENABLED=0 go vet ./crypto/... ./enroll/... ./push/... ./app/core/... ./sdk/...

# The session bus's notification daemon (dunst, for make screenshot) is
# started on demand by Chromium's tests and fails without a display: its
# complaints are left out of the output.
# The test keyring lives in a throwaway folder, not in the user's keyrings;
# Fyne's test app keeps its preferences under TMPDIR, a throwaway too.
keyrings=$(mktemp -d)
scratch=$(mktemp -d)
trap 'rm -rf "$keyrings" "$scratch"' EXIT
XDG_DATA_HOME="$keyrings" TMPDIR="$scratch" dbus-run-session -- sh -c '
	echo -n assent-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 1
	exec go test -race -tags ci -timeout 20m "$@" ./...
' sh "$@" 2> >(grep -v -e "Failed to set fd limit" -e "org.freedesktop.Notifications" \
	-e "Cannot open X11 display" -e "get_x11_output" >&2)
