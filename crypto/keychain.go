package crypto

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/zalando/go-keyring"
)

// ErrKeychainUnavailable is matched (errors.Is) by every KeychainStore error
// that means the OS keychain cannot be used at all, as opposed to a name
// that holds nothing.
var ErrKeychainUnavailable = errors.New("OS keychain is not available")

// KeychainStore keeps keys in the OS keychain through go-keyring: macOS
// Keychain, Windows Credential Manager, the Secret Service (gnome-keyring,
// KWallet) on Linux and the BSDs.
type KeychainStore struct {
	service   string
	namespace string
}

// NewKeychainStore makes a store whose items have service service and user
// namespace/name. The namespace lets two Assent homes share one keychain
// without clashing. Nothing is contacted until the first call; Check says
// early whether the keychain works.
func NewKeychainStore(service, namespace string) *KeychainStore {
	return &KeychainStore{service: service, namespace: namespace}
}

// Kind is "keychain".
func (k *KeychainStore) Kind() string { return "keychain" }

func (k *KeychainStore) user(name string) string { return k.namespace + "/" + name }

// Get returns the value stored under name.
func (k *KeychainStore) Get(name string) ([]byte, error) {
	if err := checkKeyName(name); err != nil {
		return nil, fmt.Errorf("keychain get: %w", err)
	}
	if err := sessionBusReachable(); err != nil {
		return nil, k.wrap("get", name, err)
	}
	s, err := keyring.Get(k.service, k.user(name))
	if err != nil {
		return nil, k.wrap("get", name, err)
	}
	// Keychains hold strings; values go in as base64.
	v, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("keychain get %q: item is not base64 (written by another program?)", name)
	}
	return v, nil
}

// Set stores value under name, replacing what was there.
func (k *KeychainStore) Set(name string, value []byte) error {
	if err := checkKeyName(name); err != nil {
		return fmt.Errorf("keychain set: %w", err)
	}
	if err := sessionBusReachable(); err != nil {
		return k.wrap("set", name, err)
	}
	if err := keyring.Set(k.service, k.user(name), base64.StdEncoding.EncodeToString(value)); err != nil {
		return k.wrap("set", name, err)
	}
	return nil
}

// Delete removes name.
func (k *KeychainStore) Delete(name string) error {
	if err := checkKeyName(name); err != nil {
		return fmt.Errorf("keychain delete: %w", err)
	}
	if err := sessionBusReachable(); err != nil {
		return k.wrap("delete", name, err)
	}
	if err := keyring.Delete(k.service, k.user(name)); err != nil {
		return k.wrap("delete", name, err)
	}
	return nil
}

// Check writes, reads back and deletes a probe item, so that a keychain
// that cannot be used is reported once, clearly, before any key depends on
// it. The error says which store failed and what to do; there is never a
// fallback to plain text.
func (k *KeychainStore) Check() error {
	name := "assent-probe-" + RandomToken(6)
	value := RandomBytes(16)
	if err := k.Set(name, value); err != nil {
		return err
	}
	got, err := k.Get(name)
	if err != nil {
		_ = k.Delete(name)
		return err
	}
	if !bytes.Equal(got, value) {
		_ = k.Delete(name)
		return fmt.Errorf("%s gave back a different value than was stored", keychainName())
	}
	return k.Delete(name)
}

func (k *KeychainStore) wrap(op, name string, err error) error {
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("keychain %s %q: %w", op, name, ErrKeyNotFound)
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("keychain %s %q: value too large for %s: %w", op, name, keychainName(), err)
	}
	return fmt.Errorf("keychain %s %q: %w", op, name, &keychainUnavailableError{cause: err})
}

type keychainUnavailableError struct{ cause error }

func (e *keychainUnavailableError) Error() string {
	return fmt.Sprintf("%s is not available: %v. %s", keychainName(), e.cause, keychainAdvice())
}

func (e *keychainUnavailableError) Unwrap() []error { return []error{ErrKeychainUnavailable, e.cause} }

func keychainName() string {
	switch runtime.GOOS {
	case "darwin", "ios":
		return "OS keychain (macOS Keychain)"
	case "windows":
		return "OS keychain (Windows Credential Manager)"
	}
	return "OS keychain (Secret Service)"
}

func keychainAdvice() string {
	switch runtime.GOOS {
	case "darwin", "ios":
		return "Unlock the login keychain, or use --keystore file"
	case "windows":
		return "Use --keystore file"
	case "android":
		return "Android has no Secret Service: use --keystore file"
	}
	return "Start a keyring daemon (gnome-keyring) in this session, or use --keystore file"
}

// sessionBusReachable stops go-keyring's D-Bus library from autolaunching a
// session bus (it runs dbus-launch, which leaves a stray daemon behind on
// every headless run and still finds no unlocked keyring). A session bus is
// used only when one is announced: DBUS_SESSION_BUS_ADDRESS, or the systemd
// user bus in /run/user/<uid>.
func sessionBusReachable() error {
	switch runtime.GOOS {
	case "darwin", "ios", "windows":
		return nil // no D-Bus involved
	}
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return nil
	}
	dir := "/run/user/" + strconv.Itoa(os.Getuid())
	for _, f := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(dir + "/" + f); err == nil {
			return nil
		}
	}
	return errors.New("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
}
