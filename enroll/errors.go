package enroll

import (
	"fmt"
	"strconv"
)

// The Kind of a [FieldError].
const (
	kindLink    = "enrollment link"
	kindOTPAuth = "otpauth URI"
)

// FieldError reports a link that has the right shape but a bad parameter.
// Callers can show Problem next to the field, or the whole Error() text.
type FieldError struct {
	Kind    string // "enrollment link" or "otpauth URI"
	Field   string // the parameter, as spelled in the link ("token", "secret"), or "label" / "type" for otpauth
	Problem string // what is wrong and what is expected
}

func (e *FieldError) Error() string {
	return e.Kind + ": field " + strconv.Quote(e.Field) + ": " + e.Problem
}

func fieldError(kind, field, format string, args ...any) *FieldError {
	return &FieldError{Kind: kind, Field: field, Problem: fmt.Sprintf(format, args...)}
}

// quoteShort quotes s for an error message, cut to a few dozen bytes: links
// hold secrets and may be long, so errors never echo a whole link.
func quoteShort(s string) string {
	const max = 32
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
