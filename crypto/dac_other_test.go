//go:build !linux

package crypto

// withoutDACOverride runs fn; only Linux needs (and allows) dropping root's
// override of file permissions per thread.
func withoutDACOverride(fn func()) error {
	fn()
	return nil
}
