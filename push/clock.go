package push

import (
	"errors"
	"sync"
	"time"
)

// MaxClockCorrection is how far off the server's clock a device may be and
// still work: the device measures the difference from the server's answers
// (serverTime in welcome, in GET /v1/challenges and in a clock_skew
// refusal) and makes its tokens and responses on the server's time. Past
// it, the device clock must be set right. The server checks freshness as
// before (iat within 60 s of its clock).
const MaxClockCorrection = 10 * time.Minute

// Clock is what a device knows of its server's clock: how far it is ahead
// of the device's (negative: behind). The Clients of one enrollment share
// one; the zero Clock knows nothing (no correction).
type Clock struct {
	mu  sync.Mutex
	off time.Duration
}

// Offset is the server's clock minus the device's, as last measured; 0
// when unknown or past MaxClockCorrection.
func (k *Clock) Offset() time.Duration {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.off
}

// learn records the server's time as it said it at local time local, and
// reports whether the offset moved by more than a second (so that a
// refused request is worth making again).
func (k *Clock) learn(serverMillis int64, local time.Time) bool {
	if k == nil || serverMillis <= 0 {
		return false
	}
	off := time.UnixMilli(serverMillis).Sub(local)
	if off.Abs() > MaxClockCorrection {
		off = 0
	} else if off.Abs() < time.Second {
		off = 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	moved := (off - k.off).Abs() > time.Second
	k.off = off
	return moved
}

// serverNow is the time on the server's clock, as far as this device knows.
func (c *Client) serverNow() time.Time { return c.now().Add(c.Clock.Offset()) }

// retryOnSkew runs do, and once more when the server refused it for the
// device's clock and said its own time within MaxClockCorrection.
func (c *Client) retryOnSkew(do func() error) error {
	err := do()
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == "clock_skew" && c.Clock.learn(ae.ServerTime, c.now()) {
		return do()
	}
	return err
}
