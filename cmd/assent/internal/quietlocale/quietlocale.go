// Package quietlocale keeps Fyne from logging "Error parsing user locale C"
// on every start under Debian's default locale, C.UTF-8.
//
// Fyne's lang package reads the locale from LC_ALL, LC_MESSAGES or LANG in
// its own init, takes "C" out of "C.UTF-8", and logs that "C" is not a
// language. This package's init runs before it: it imports only syscall,
// and Go initialises packages in import-path order among those ready, so
// it comes before os (which every Fyne package needs) and so before Fyne.
// It sets LANGUAGE to "en" when the locale is C or POSIX with a codeset
// (C.UTF-8, POSIX.UTF-8) and LANGUAGE is unset: Fyne then reads English,
// which is what the C locale means, and nothing else reads LANGUAGE under
// a C locale (gettext ignores it there).
//
// Import it for its side effect, first in the main package:
//
//	import _ "github.com/seed-3a5b824e/assent/cmd/assent/internal/quietlocale"
package quietlocale

import "syscall"

func init() { Apply() }

// Apply sets LANGUAGE=en when the environment's locale is C or POSIX with
// a codeset and LANGUAGE is unset; it says whether it did.
func Apply() bool {
	if v, ok := syscall.Getenv("LANGUAGE"); ok && v != "" {
		return false
	}
	locale := ""
	for _, name := range [...]string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v, ok := syscall.Getenv(name); ok && v != "" {
			locale = v
			break
		}
	}
	if !isCWithCodeset(locale) {
		return false
	}
	return syscall.Setenv("LANGUAGE", "en") == nil
}

// isCWithCodeset says whether locale is "C." or "POSIX." and a codeset
// (with or without a "@modifier"): the names Fyne cannot parse. Plain "C"
// and "POSIX" Fyne already reads as no locale.
func isCWithCodeset(locale string) bool {
	for _, base := range [...]string{"C", "POSIX"} {
		if len(locale) > len(base) && locale[:len(base)] == base && (locale[len(base)] == '.' || locale[len(base)] == '@') {
			return true
		}
	}
	return false
}
