package sqlite

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// reserveSize is the size of the reserve file: at least the most the WAL
// may hold (walHard), so that a checkpoint that must grow the database
// file by every page in the WAL can complete once the reserve is given up.
const reserveSize = walHard

// reserveMargin is the free space, beyond reserveSize, the data volume
// must have before the reserve is taken back, so that taking it back does
// not fill the volume again at once.
const reserveMargin = walHard

// reserve is a file of reserveSize bytes next to the database (the
// database path + "-reserve"), with its blocks allocated: space the server
// keeps so that it can always write its own recovery. When a write fails
// for want of space the store deletes it, which hands its blocks back to
// the volume at once (nothing holds the file open), and checkpoints and
// truncates the WAL into that room; when the volume has reserveSize +
// reserveMargin free again, the store writes the file back.
type reserve struct {
	path string
	size int64

	mu   sync.Mutex
	held bool
}

func newReserve(path string, size int64) *reserve {
	return &reserve{path: path, size: size}
}

// Held says whether the reserve file is in place at its full size.
func (r *reserve) Held() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// fill makes the reserve file whole: it allocates what is missing. When
// the volume has no room for it, it removes what it wrote and returns an
// error that errors.Is syscall.ENOSPC.
func (r *reserve) fill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fi, err := os.Stat(r.path); err == nil && fi.Mode().IsRegular() && fi.Size() >= r.size && allocated(fi) >= r.size {
		r.held = true
		return nil
	}
	f, err := os.OpenFile(r.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: reserve %s: %w", r.path, err)
	}
	err = allocate(f, r.size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Half a reserve only takes space the database needs.
		_ = os.Remove(r.path)
		r.held = false
		return fmt.Errorf("sqlite: reserve %s: %w", r.path, err)
	}
	r.held = true
	return nil
}

// release deletes the reserve file, handing its space back to the volume;
// it says whether there was one to give.
func (r *reserve) release() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := os.Remove(r.path)
	had := r.held || err == nil
	r.held = false
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return had, fmt.Errorf("sqlite: release reserve %s: %w", r.path, err)
	}
	return had, nil
}

// isOSNoSpace says whether err is the operating system's "no space left on
// device" or "disk quota exceeded".
func isOSNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
