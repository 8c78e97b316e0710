//go:build !linux

package dactest

// WithoutDACOverride runs fn; only Linux needs (and allows) dropping root's
// override of file permissions per thread.
func WithoutDACOverride(fn func()) error {
	fn()
	return nil
}
