package core

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/seed-3a5b824e/assent/enroll"
)

// Input is what a person handed the app — a pasted text, a dropped or
// opened file, a QR code on the screen — understood: either a link to add
// (an enrollment link or an otpauth:// URI) or an export to preview and
// import.
type Input struct {
	Link   string
	Import *enroll.Import
}

// An encrypted export (Aegis, 2FAS) read without its password gives an
// error that errors.Is ErrPasswordNeeded: ask for the password and read it
// again with ParseInputDataPassword or ReadImportPassword. A wrong password
// gives one that errors.Is ErrWrongPassword: ask again. Both are an
// *enroll.PasswordError, whose Source names the app ("Aegis").
var (
	ErrPasswordNeeded = enroll.ErrPasswordNeeded
	ErrWrongPassword  = enroll.ErrWrongPassword
)

// maxInputFile bounds a file given to the app: a photo of a QR code or an
// export with icons, not a disk image.
const maxInputFile = 64 << 20

const wantInput = "want an assent://enroll link, an otpauth:// URI, or an export of Google Authenticator, Aegis, 2FAS, andOTP, FreeOTP+ or Bitwarden"

// ParseInputText reads pasted or scanned text.
func ParseInputText(text string) (Input, error) { return parseInputText(text, "") }

// ParseInputTextPassword is ParseInputText for a pasted encrypted export:
// the password opens it. "" is no password.
func ParseInputTextPassword(text, password string) (Input, error) {
	return parseInputText(text, password)
}

func parseInputText(text, password string) (Input, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return Input{}, errors.New("nothing to add: the text is empty")
	}
	switch {
	case hasScheme(t, "otpauth-migration"):
		imp, err := enroll.ParseMigration(t)
		if err != nil {
			return Input{}, err
		}
		return Input{Import: imp}, nil
	case hasScheme(t, "assent"), hasScheme(t, "otpauth"):
		if strings.Contains(t, "\n") {
			// Several otpauth:// lines: a list export.
			imp, err := enroll.ParseImport([]byte(t))
			if err != nil {
				return Input{}, err
			}
			return Input{Import: imp}, nil
		}
		// Checked now, so the person hears what is wrong before anything
		// is sent.
		if _, err := enroll.Parse(t); err != nil {
			return Input{}, err
		}
		return Input{Link: t}, nil
	}
	// An export file's content (JSON, Bitwarden's CSV), by its shape.
	imp, err := enroll.ParseImportPassword([]byte(t), password)
	if errors.Is(err, enroll.ErrNotAnExport) {
		return Input{}, errors.New("this is not something Assent can add: " + wantInput)
	}
	if err != nil {
		return Input{}, err
	}
	return Input{Import: imp}, nil
}

func hasScheme(s, scheme string) bool {
	return len(s) > len(scheme) && strings.EqualFold(s[:len(scheme)+1], scheme+":")
}

// ParseInputData reads a file's content: a PNG or JPEG with a QR code, an
// export of another authenticator (see enroll.ParseImport), or text holding
// a link. name is only for messages. An encrypted export gives an error
// that errors.Is ErrPasswordNeeded.
func ParseInputData(name string, data []byte) (Input, error) {
	return ParseInputDataPassword(name, data, "")
}

// ParseInputDataPassword is ParseInputData for an encrypted export: the
// password opens it. "" is no password.
func ParseInputDataPassword(name string, data []byte, password string) (Input, error) {
	if len(data) > maxInputFile {
		return Input{}, fmt.Errorf("%s is over %d MiB: want a QR code picture or an export file", name, maxInputFile>>20)
	}
	if isImage(data) {
		text, err := enroll.DecodeReader(bytes.NewReader(data))
		if err != nil {
			return Input{}, fmt.Errorf("%s: %w", name, err)
		}
		in, err := ParseInputText(text)
		if err != nil {
			return Input{}, fmt.Errorf("the QR code in %s: %w", name, err)
		}
		return in, nil
	}
	in, err := parseInputText(string(data), password)
	if err != nil {
		return Input{}, fmt.Errorf("%s: %w", name, err)
	}
	return in, nil
}

// isImage tells PNG and JPEG by their first bytes.
func isImage(b []byte) bool {
	return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || bytes.HasPrefix(b, []byte("\xff\xd8\xff"))
}

// ReadImport reads an export named on the command line: an
// otpauth-migration:// link, or the path of an export file of another
// authenticator, a list of otpauth:// URIs, or a QR image of a Google
// export. An encrypted export gives an error that errors.Is
// ErrPasswordNeeded: ask for the password (without echo) and call
// ReadImportPassword.
func ReadImport(arg string) (*enroll.Import, error) { return ReadImportPassword(arg, "") }

// ReadImportPassword is ReadImport for an encrypted export: the password
// opens it. "" is no password.
func ReadImportPassword(arg, password string) (*enroll.Import, error) {
	a := strings.TrimSpace(arg)
	if hasScheme(a, "otpauth-migration") {
		return enroll.ParseMigration(a)
	}
	data, err := readFileLimited(a)
	if err != nil {
		return nil, err
	}
	in, err := ParseInputDataPassword(a, data, password)
	if err != nil {
		return nil, err
	}
	if in.Import == nil {
		return nil, fmt.Errorf("%s holds a single account, not an export: add it with 'assent add %s'", a, a)
	}
	return in.Import, nil
}

func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%q is neither an otpauth-migration:// link nor a readable file: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxInputFile {
		return nil, fmt.Errorf("%s is over %d MiB: want a QR code picture or an export file", path, maxInputFile>>20)
	}
	return os.ReadFile(path)
}

// PreviewImport is what importing imp would do: the accounts it would add,
// and what it would skip — what the export itself could not use, and
// accounts this home already has (same secret, issuer and name).
func (c *Core) PreviewImport(imp *enroll.Import) *enroll.Import {
	out := &enroll.Import{Source: imp.Source, BatchIndex: imp.BatchIndex, BatchSize: imp.BatchSize}
	out.Skipped = append(out.Skipped, imp.Skipped...)
	have := c.Accounts()
	var taken []*enroll.OTPAuth
	for _, o := range imp.Accounts {
		if hasAccount(have, o) || containsOTP(taken, o) {
			out.Skipped = append(out.Skipped, enroll.Skipped{Label: o.Label(), Reason: "already in Assent"})
			continue
		}
		taken = append(taken, o)
		out.Accounts = append(out.Accounts, o)
	}
	return out
}

func sameOTP(secret []byte, issuer, name string, o *enroll.OTPAuth) bool {
	return issuer == o.Issuer && name == o.Account && subtle.ConstantTimeCompare(secret, o.Secret) == 1
}

func hasAccount(accts []Account, o *enroll.OTPAuth) bool {
	for _, a := range accts {
		if a.Kind != KindAssent && sameOTP(a.Secret, a.Issuer, a.Name, o) {
			return true
		}
	}
	return false
}

func containsOTP(list []*enroll.OTPAuth, o *enroll.OTPAuth) bool {
	for _, x := range list {
		if sameOTP(x.Secret, x.Issuer, x.Account, o) {
			return true
		}
	}
	return false
}

// Import adds the accounts of an export in one change: all of them or, if
// the vault cannot be saved, none. Accounts the home already has are left
// out (see PreviewImport).
func (c *Core) Import(imp *enroll.Import) ([]Account, error) {
	plan := c.PreviewImport(imp)
	var added []Account
	for _, o := range plan.Accounts {
		a, err := c.otpAccount(o)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", o.Label(), err)
		}
		added = append(added, a)
	}
	if len(added) == 0 {
		return nil, nil
	}
	err := c.update(func(v *vault) error {
		for _, a := range added {
			o := &enroll.OTPAuth{Issuer: a.Issuer, Account: a.Name, Secret: a.Secret}
			if hasAccount(v.Accounts, o) {
				continue // added meanwhile by another process
			}
			v.Accounts = append(v.Accounts, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// AddOTPAuth adds a third-party account built by hand (the app's "enter a
// secret" form).
func (c *Core) AddOTPAuth(o *enroll.OTPAuth) (Account, error) {
	// Through the URI, so that a hand-made account passes the same checks
	// as a scanned one.
	parsed, err := enroll.ParseOTPAuth(o.String())
	if err != nil {
		return Account{}, err
	}
	return c.addOTPAccount(parsed)
}
