//go:build !linux

package sqlite

import (
	"errors"
	"os"
)

// allocate writes size bytes to f (see writeOut).
func allocate(f *os.File, size int64) error { return writeOut(f, size) }

// allocated is the file's size: without a portable block count, a file
// written out in full is taken to hold its size.
func allocated(fi os.FileInfo) int64 { return fi.Size() }

// freeSpace is not known on this system; the reserve is then written back
// by trying (fill removes it again when the volume has no room).
func freeSpace(string) (int64, error) { return 0, errors.ErrUnsupported }
