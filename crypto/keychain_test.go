package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

const keychainHowTo = "run under 'make test' or: dbus-run-session -- sh -c " +
	"'echo -n test | gnome-keyring-daemon --unlock --components=secrets; go test ./crypto/'"

// testKeychain is a KeychainStore with a namespace of its own for this run,
// backed by the real OS keychain. No keychain is a failure, not a skip: the
// keychain is the default store and must stay tested.
func testKeychain(t *testing.T) *KeychainStore {
	t.Helper()
	k := NewKeychainStore("assent-test", "test-"+RandomToken(9))
	if err := k.Check(); err != nil {
		t.Fatalf("no usable OS keychain: %v\n%s", err, keychainHowTo)
	}
	return k
}

// cleanupKeys deletes what a test set, whatever happens to the test.
func cleanupKeys(t *testing.T, k *KeychainStore, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			if err := k.Delete(n); err != nil && !errors.Is(err, ErrKeyNotFound) {
				t.Errorf("cleanup: delete %s: %v", n, err)
			}
		}
	})
}

func TestKeychainStoreAgainstRealKeychain(t *testing.T) {
	k := testKeychain(t)
	if k.Kind() != "keychain" {
		t.Fatalf("Kind %q", k.Kind())
	}
	cleanupKeys(t, k, "device", "vault", "empty")

	if _, err := k.Get("device"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Get before Set: %v, want ErrKeyNotFound", err)
	}
	if err := k.Delete("device"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Delete before Set: %v, want ErrKeyNotFound", err)
	}

	// Binary values, every byte value included, survive the string-only
	// keychain.
	device := make([]byte, 256)
	for i := range device {
		device[i] = byte(i)
	}
	if err := k.Set("device", device); err != nil {
		t.Fatal(err)
	}
	if err := k.Set("empty", nil); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, k, "device"); !bytes.Equal(got, device) {
		t.Fatalf("device = %x", got)
	}
	if got := mustGet(t, k, "empty"); len(got) != 0 {
		t.Fatalf("empty = %x", got)
	}

	// Set replaces.
	v1, v2 := RandomBytes(32), RandomBytes(32)
	if err := k.Set("vault", v1); err != nil {
		t.Fatal(err)
	}
	if err := k.Set("vault", v2); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, k, "vault"); !bytes.Equal(got, v2) {
		t.Fatal("vault is not the replaced value")
	}

	if err := k.Delete("vault"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get("vault"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := k.Delete("vault"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("second Delete: %v", err)
	}

	for _, name := range []string{"", "a\x00b", strings.Repeat("n", 201)} {
		if err := k.Set(name, []byte("v")); err == nil {
			t.Errorf("Set(%q) accepted", name)
		}
	}
}

func TestKeychainNamespacesDoNotClash(t *testing.T) {
	a := testKeychain(t)
	b := NewKeychainStore(a.service, a.namespace+"-other")
	cleanupKeys(t, a, "device")
	cleanupKeys(t, b, "device")

	if err := a.Set("device", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get("device"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("other namespace sees the key: %v", err)
	}
	if err := b.Set("device", []byte("b")); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, a, "device"); string(got) != "a" {
		t.Fatalf("namespace a holds %q after b's Set", got)
	}
	if err := b.Delete("device"); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, a, "device"); string(got) != "a" {
		t.Fatalf("namespace a holds %q after b's Delete", got)
	}
}

const keychainChildEnv = "ASSENT_TEST_KEYCHAIN_CHILD"

// TestKeychainCheckChild is run by TestKeychainCheckWithoutSessionBus in a
// subprocess, whose D-Bus environment it controls (the session bus
// connection is cached per process). It does nothing in a normal run.
func TestKeychainCheckChild(t *testing.T) {
	if os.Getenv(keychainChildEnv) == "" {
		return
	}
	err := NewKeychainStore("assent-test", "child").Check()
	fmt.Printf("CHECK-ERROR: %v\n", err)
	fmt.Printf("IS-UNAVAILABLE: %v\n", errors.Is(err, ErrKeychainUnavailable))
}

func TestKeychainCheckWithoutSessionBus(t *testing.T) {
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly":
	default:
		t.Skipf("no D-Bus on %s", runtime.GOOS)
	}
	cases := map[string]struct {
		address string // "" unsets DBUS_SESSION_BUS_ADDRESS
		want    string
	}{
		"unreachable bus": {"unix:path=/nonexistent", "/nonexistent"},
		"no bus":          {"", "DBUS_SESSION_BUS_ADDRESS is not set"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if c.address == "" {
				if _, err := os.Stat("/run/user/" + strconv.Itoa(os.Getuid()) + "/bus"); err == nil {
					t.Skip("this machine has a systemd user bus, found without DBUS_SESSION_BUS_ADDRESS")
				}
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestKeychainCheckChild$", "-test.count=1")
			for _, e := range os.Environ() {
				if !strings.HasPrefix(e, "DBUS_SESSION_BUS_ADDRESS=") {
					cmd.Env = append(cmd.Env, e)
				}
			}
			// A race-enabled child otherwise sleeps a second at exit.
			cmd.Env = append(cmd.Env, keychainChildEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
			if c.address != "" {
				cmd.Env = append(cmd.Env, "DBUS_SESSION_BUS_ADDRESS="+c.address)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			text := string(out)
			for _, want := range []string{
				"CHECK-ERROR: keychain set",
				"OS keychain (Secret Service) is not available: ",
				c.want,
				". Start a keyring daemon (gnome-keyring) in this session, or use --keystore file",
				"IS-UNAVAILABLE: true",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("child output lacks %q:\n%s", want, text)
				}
			}
		})
	}
}
