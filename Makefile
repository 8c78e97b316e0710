# Assent — see README.md. Two commands on a fresh Debian/Ubuntu machine:
#   make run    the server on embedded SQLite and the app (a headless device without a display)
#   make test   every check CI runs
# and: make screenshot (the app under Xvfb, the hosted pages in Chromium), make package (a Linux archive).
.PHONY: deps deps-build build run signin test bench perf faults fuzz clean screenshot screenshot-web package package-windows package-macos package-android

GO ?= go
# BUILD_PACKAGES are what building the app (cgo, OpenGL, X11) needs and
# 'make run' uses (curl); PACKAGES adds what the tests and screenshots use.
BUILD_PACKAGES := gcc libc6-dev libgl1-mesa-dev xorg-dev libxkbcommon-dev ca-certificates curl
PACKAGES := $(BUILD_PACKAGES) xvfb feh gnome-keyring dbus dbus-x11 chromium freeradius-utils freeradius zbar-tools systemd dunst

# install-missing installs those of the Debian/Ubuntu packages named that
# are missing (nothing when all are there; a note elsewhere).
define install-missing
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
		echo "not Debian or Ubuntu: install these (or your system's names for them) yourself: $(1)"; exit 0; \
	fi; \
	missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

# deps installs the system packages Assent's build and tests need; it does
# nothing when they are all present.
deps:
	$(call install-missing,$(PACKAGES))

# deps-build installs only what 'make build' and 'make run' need.
deps-build:
	$(call install-missing,$(BUILD_PACKAGES))

# The binaries land in bin/: bin/assent (the app and its subcommands) and
# bin/assentd (the server).
build: deps-build
	$(GO) build -o bin/ ./cmd/...

run: build
	scripts/run.sh

# signin starts a sign-in against the server 'make run' started: at
# ASSENT_URL, or on ASSENT_LISTEN's port, as scripts/run.sh does.
signin:
	@listen=$${ASSENT_LISTEN:-127.0.0.1:8080}; \
	$(GO) run ./examples/signin --login demo --server "$${ASSENT_URL:-http://localhost:$${listen##*:}}"

test: deps
	scripts/test.sh

# bench runs every benchmark, against this machine's PostgreSQL and NATS
# unless others are named (as scripts/test.sh does).
bench:
	ASSENT_TEST_POSTGRES=$${ASSENT_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test} \
	ASSENT_TEST_NATS=$${ASSENT_TEST_NATS:-nats://127.0.0.1:4222} \
	$(GO) test -run '^$$' -bench . -benchmem ./...

# perf reproduces docs/PERFORMANCE.md (takes a while; see the script).
perf:
	scripts/perf.sh

# faults runs the longer fault runs of docs/RELIABILITY.md: kill -9 under
# load, restarts with devices reconnecting, full disk (as root) and backup.
faults:
	scripts/faults.sh

# fuzz runs every fuzz target for FUZZTIME each.
FUZZTIME ?= 30s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# screenshot photographs the real app under Xvfb (a demo server, a push)
# into docs/screenshots/.
screenshot: deps build screenshot-web
	scripts/screenshot.sh

# screenshot-web photographs the hosted pages in headless Chromium (a demo
# assentd --dev, real devices approving its pushes) into
# docs/screenshots/web-*.png.
screenshot-web: deps
	scripts/screenshot-web.sh

# package makes dist/Assent.tar.xz, the Linux archive of the app, with the
# fyne tool (fyne.io/tools) from the Go module proxy.
FYNE_TOOLS ?= v1.7.4
# fyne package counts the build number up in FyneApp.toml; the copy put
# back keeps the tree as it was (raise Build there for a release).
package: deps
	mkdir -p dist
	cp cmd/assent/FyneApp.toml dist/FyneApp.toml.orig
	cd dist && $(GO) run fyne.io/tools/cmd/fyne@$(FYNE_TOOLS) package --target linux --source-dir ../cmd/assent --release; \
		status=$$?; mv FyneApp.toml.orig ../cmd/assent/FyneApp.toml; exit $$status
	@echo "dist/Assent.tar.xz: unpack it (tar -xJf dist/Assent.tar.xz), then run 'sudo make install' in the assent folder it makes, or run assent/usr/local/bin/assent"

# The other platforms build in fyne-cross's Docker images (install Docker
# and: go install github.com/fyne-io/fyne-cross@latest); the packages land
# in fyne-cross/dist/.
FYNE_CROSS ?= fyne-cross
APP_ID := io.github.seed_3a5b824e.assent
CROSS_FLAGS = -app-id $(APP_ID) -icon cmd/assent/Icon.png -name Assent -release
package-windows:
	$(FYNE_CROSS) windows -arch=amd64,arm64 $(CROSS_FLAGS) ./cmd/assent
package-macos:
	$(FYNE_CROSS) darwin -arch=amd64,arm64 $(CROSS_FLAGS) $(if $(MACOSX_SDK),-macosx-sdk-path $(MACOSX_SDK)) ./cmd/assent
package-android:
	$(FYNE_CROSS) android -arch=arm64,arm $(CROSS_FLAGS) ./cmd/assent

clean:
	rm -rf bin dist
