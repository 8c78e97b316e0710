#!/usr/bin/env bash
# The one test command: formatting, vet (here and for Android), and every
# test with the race detector, with a real Secret Service (gnome-keyring in
# a private D-Bus session) for the keychain tests.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" $unformatted >&2
	exit 1
fi
go vet ./...
# The app's core and everything below it must build for Android, without cgo.
GOOS=android CGO_ENABLED=0 go vet ./crypto/... ./enroll/... ./push/... ./app/core/... ./sdk/...

export ASSENT_TEST_BIN_DIR="${ASSENT_TEST_BIN_DIR:-}"
exec dbus-run-session -- sh -c '
	echo -n assent-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 1
	exec go test -race -timeout 20m "$@" ./...
' sh "$@"
