package quietlocale

import (
	"os"
	"testing"
)

func TestApplySetsEnglishOnlyForCWithACodeset(t *testing.T) {
	for _, tc := range []struct {
		lcAll, lang, language string
		want                  bool
	}{
		{"", "C.UTF-8", "", true},
		{"C.utf8", "de_DE.UTF-8", "", true},
		{"", "POSIX.UTF-8", "", true},
		{"", "C", "", false},
		{"", "POSIX", "", false},
		{"", "de_DE.UTF-8", "", false},
		{"", "Catalan", "", false},
		{"", "C.UTF-8", "fr", false},
		{"", "", "", false},
	} {
		t.Setenv("LC_ALL", tc.lcAll)
		t.Setenv("LC_MESSAGES", "")
		t.Setenv("LANG", tc.lang)
		t.Setenv("LANGUAGE", tc.language)
		got := Apply()
		if got != tc.want {
			t.Errorf("LC_ALL=%q LANG=%q LANGUAGE=%q: applied %v, want %v", tc.lcAll, tc.lang, tc.language, got, tc.want)
		}
		if want := map[bool]string{true: "en", false: tc.language}[tc.want]; os.Getenv("LANGUAGE") != want {
			t.Errorf("LANGUAGE=%q, want %q", os.Getenv("LANGUAGE"), want)
		}
	}
}
