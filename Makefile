# Assent — see README.md. Two commands on a fresh Debian/Ubuntu machine:
#   make run    the server on embedded SQLite and a headless device listening for pushes
#   make test   every check CI runs
.PHONY: deps build run signin test bench fuzz clean

GO ?= go
PACKAGES := gcc libgl1-mesa-dev xorg-dev libxkbcommon-dev xvfb gnome-keyring dbus dbus-x11 chromium ca-certificates curl

# deps installs the system packages Assent's build and tests need; it does
# nothing when they are all present.
deps:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build:
	$(GO) build -o bin/ ./cmd/...

run: build
	scripts/run.sh

# signin starts a sign-in against the server 'make run' started.
signin:
	$(GO) run ./examples/signin --login demo

test: deps
	scripts/test.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# fuzz runs every fuzz target for FUZZTIME each.
FUZZTIME ?= 30s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
