package sqlite

import (
	"math/rand/v2"
	"os"
)

// writeOut writes size bytes of pseudo-random data to f from its start:
// blocks a compressing file system (ZFS, btrfs) cannot fold away, as it
// would zeros.
func writeOut(f *os.File, size int64) error {
	buf := make([]byte, 64<<10)
	r := rand.NewChaCha8([32]byte{'a', 's', 's', 'e', 'n', 't'})
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		_, _ = r.Read(buf[:n])
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}
