package ui

import (
	"strings"
	"unicode"

	"github.com/mileusna/useragent"
)

// maxShownUA is as much of a raw User-Agent as the prompt shows: the
// header is the sign-in's browser's to choose, so it may be anything.
const maxShownUA = 400

// browserName is a sign-in's User-Agent as a person says it: "Chrome on
// Linux", "Safari on iOS". A header the parser makes nothing of is shown
// as it came, cleaned; an empty one is "".
func browserName(ua string) string {
	ua = cleanUA(ua)
	if ua == "" {
		return ""
	}
	p := useragent.Parse(ua)
	name := cleanUA(p.Name)
	os := cleanUA(p.OS)
	switch {
	case name != "" && os != "":
		name = name + " on " + os
	case name == "":
		return clip(ua, 60)
	}
	return clip(name, 60)
}

// cleanUA keeps the printable part of a header, on one line.
func cleanUA(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case !unicode.IsPrint(r):
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// clip cuts s to n runes, with an ellipsis when it was longer.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
