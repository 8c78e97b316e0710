// Package enroll reads and writes the two kinds of link an Assent app is
// given to set up an account, and the QR codes that carry them.
//
// # Enrollment links
//
// An assentd server shows a person an enrollment link, usually as a QR code:
//
//	assent://enroll?v=1&server=https://assent.example.com&token=<base64url>&user=alice&org=ACME&exp=1767225600&pin=<base64url>
//
// The link is single use and short lived (exp, unix seconds). token is the
// random enrollment secret the device sends back in POST /v1/enroll; pin is
// the RFC 7638 SHA-256 thumbprint of the server's signing key, so the app can
// refuse a server that answers with any other key even if TLS was subverted.
// server is where the app talks to: https, or plain http only on a loopback
// address for development. See the "Wire protocol" section of DESIGN.md.
//
// Parsing is strict about the fields the app relies on, because a mistake
// there means enrolling against the wrong server or with a broken secret:
// every known parameter must appear once, and each is checked for form and
// length. Parameters the parser does not know are ignored, so a later server
// can add some without breaking older apps; a change in meaning bumps v.
//
// # otpauth URIs
//
// Plain TOTP and HOTP accounts (from any site, not only Assent) use the key
// URI format that Google Authenticator introduced:
//
//	otpauth://totp/ACME%20Co:john@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30
//
// See https://github.com/google/google-authenticator/wiki/Key-Uri-Format.
// The parser accepts what real issuers produce (lower-case or padded base32,
// an issuer given only in the label, a percent-encoded colon) and writes a
// single canonical form back.
//
// Both parsers trim surrounding white space, because links are often pasted,
// and return a [*FieldError] naming the parameter at fault, so the app can
// tell a person what is wrong rather than just "invalid link". [Parse]
// accepts either kind.
//
// # Imports from other authenticators
//
// [ParseImport] reads an export by its content: Google Authenticator's
// export links ([ParseMigration]: otpauth-migration://offline?data=…, a
// protobuf payload read with protowire), Aegis's JSON vault, plain or
// encrypted ([ParseAegisPassword]: scrypt and AES-GCM as Aegis's
// docs/vault.md describes), 2FAS backups, plain or encrypted
// ([Parse2FASPassword]), andOTP's plain backups ([ParseAndOTP]), FreeOTP+'s
// JSON ([ParseFreeOTPPlus]), Bitwarden's JSON and CSV
// ([ParseBitwardenJSON], [ParseBitwardenCSV]) and files of otpauth:// URIs
// ([ParseURIList]). An encrypted export read without its password is a
// [*PasswordError] that errors.Is [ErrPasswordNeeded]; read it again with
// [ParseImportPassword]; a wrong password errors.Is [ErrWrongPassword].
//
// Each returns an [Import]: the accounts that passed the same checks as a
// scanned URI, and the entries that did not, each with its label and why
// — a damaged entry is named ("entry 3" when it has no name) and skipped,
// never fatal — for the app to show before anything is added.
// [EncodeMigration] writes the Google format.
//
// Accounts have 5 to 10 digits, as real exports carry, and may be Steam
// Guard accounts (Type "steam"): TOTP shown as five characters of Steam's
// alphabet.
//
// # QR codes
//
// [EncodePNG] and [Terminal] draw a link as a QR code; [Decode],
// [DecodeReader] and [DecodeFile] read one back from a picture, for
// desktops without a camera where a person imports a screenshot.
package enroll
