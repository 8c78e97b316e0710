//go:build !unix

package server

// lockDataFolder takes no lock where flock is missing.
func lockDataFolder(string) (func(), error) { return func() {}, nil }
