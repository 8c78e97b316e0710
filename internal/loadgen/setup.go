package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/push"
)

// Enroll brings st up to n devices, enrolling the missing ones with the
// real protocol: a user through the admin API, an enrollment link, a new
// P-256 key proven to the server. progress is told of each device.
func Enroll(ctx context.Context, a *Admin, st *State, prefix string, n, parallel int, progress func()) error {
	if st.Server != "" && st.Server != a.URL {
		return fmt.Errorf("the state file belongs to %s, not %s: use another --state", st.Server, a.URL)
	}
	st.Server = a.URL
	have := len(st.Devices)
	if have >= n {
		return nil
	}
	out := make([]Device, n-have)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(out) || ctx.Err() != nil {
					return
				}
				d, err := enrollOne(ctx, a, fmt.Sprintf("%s-%06d", prefix, have+i))
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				out[i] = d
				progress()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	st.Devices = append(st.Devices, out...)
	return ctx.Err()
}

func enrollOne(ctx context.Context, a *Admin, login string) (Device, error) {
	if err := a.AddUser(ctx, login); err != nil {
		return Device{}, err
	}
	text, err := a.EnrollLink(ctx, login)
	if err != nil {
		return Device{}, err
	}
	link, err := enroll.ParseLink(text)
	if err != nil {
		return Device{}, err
	}
	key, err := crypto.NewDeviceKey()
	if err != nil {
		return Device{}, err
	}
	resp, _, err := push.EnrollDevice(ctx, a.HTTP, link, key, push.Device{Name: login, Platform: "load", KeyStore: "memory"}, time.Now())
	if err != nil {
		return Device{}, fmt.Errorf("enroll %s: %w", login, err)
	}
	der, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return Device{}, err
	}
	return Device{Login: login, EnrollmentID: resp.EnrollmentID, Key: der, ServerKey: resp.ServerKey, PushURL: resp.PushURL}, nil
}
