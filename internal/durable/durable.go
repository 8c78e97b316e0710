// Package durable holds what makes a file's new name survive a crash.
package durable

import (
	"os"
	"runtime"
)

// SyncDir makes a new name in dir (a file created or renamed there)
// durable. Windows cannot open a folder for syncing, and NTFS journals the
// rename itself.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
