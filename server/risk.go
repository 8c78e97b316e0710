package server

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Risk is an assessed risk level and why.
type Risk struct {
	Level   string   `json:"level"`
	Reasons []string `json:"reasons,omitempty"`
}

// How far back risk looks.
const (
	historyWindow  = 90 * 24 * time.Hour
	failureWindow  = time.Hour
	reportedWindow = 7 * 24 * time.Hour
	historyLimit   = 500
)

// The events assessRisk reads of a user: each type is one the store
// indexes by user (store.UserAuditTypes), or the read walks the whole log.
var (
	historyEvents = []string{"signin.success"}
	reportEvents  = []string{"push.reported"}
)

// Audit event types that count as failed attempts.
var failureEvents = []string{"signin.password_failed", "totp.refused", "totp.replayed", "push.failed", "push.denied"}

// networkOf is the network a sign-in came from: the /24 of an IPv4
// address, the /64 of an IPv6 one.
func networkOf(ip string) string {
	p := net.ParseIP(ip)
	if p == nil {
		return ""
	}
	if v4 := p.To4(); v4 != nil {
		return v4.Mask(net.CIDRMask(24, 32)).String() + "/24"
	}
	return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// deviceHash is how a browser's or app's device id is kept: hashed, so the
// audit log holds nothing that could be replayed as a cookie.
func deviceHash(id string) string {
	if id == "" {
		return ""
	}
	return crypto.HashToken("device:" + id)[:22]
}

// assessRisk weighs a sign-in attempt: a device or network the user never
// signed in from, recent failed attempts, and pushes the user reported.
func (s *Server) assessRisk(ctx context.Context, u store.User, ip, device string) Risk {
	now := s.now()
	var reasons []string
	points := 0
	knownDevice, knownNet, err := s.signInsKnown(ctx, u.ID, device, networkOf(ip), now)
	if err != nil {
		s.log.Error("risk: read history", "err", err)
	}
	if !knownDevice {
		reasons, points = append(reasons, "new device"), points+1
	}
	if !knownNet {
		reasons, points = append(reasons, "new network"), points+1
	}
	// Six are as many as count; reading no more keeps the time this takes
	// the same for an account under attack and a login that names nobody.
	fails, err := s.st.ListAudit(ctx, store.AuditFilter{UserID: u.ID, Types: failureEvents, Since: now.Add(-failureWindow), Newest: true, Limit: 6})
	if err != nil {
		s.log.Error("risk: read failures", "err", err)
	}
	switch n := len(fails); {
	case n >= 6:
		reasons, points = append(reasons, fmt.Sprintf("%d failed attempts in the last hour", n)), points+2
	case n >= 3:
		reasons, points = append(reasons, fmt.Sprintf("%d failed attempts in the last hour", n)), points+1
	}
	reported := u.Risk == policy.RiskHigh && now.Sub(u.RiskSince) < reportedWindow
	if !reported {
		// Reports count for reportedWindow, and only since an administrator
		// last reset the user's risk (ResetUserRisk: a low risk with its
		// RiskSince).
		since := now.Add(-reportedWindow)
		if u.Risk != policy.RiskHigh && u.RiskSince.After(since) {
			since = u.RiskSince
		}
		if rs, err := s.st.ListAudit(ctx, store.AuditFilter{UserID: u.ID, Types: reportEvents, Since: since, Limit: 1}); err == nil && len(rs) > 0 {
			reported = true
		}
	}
	if reported {
		reasons, points = append(reasons, "a push was reported as not made by the user"), points+3
	}
	level := policy.RiskLow
	switch {
	case points >= 3:
		level = policy.RiskHigh
	case points >= 1 && !(len(reasons) == 1 && reasons[0] == "new network"):
		level = policy.RiskMedium
	}
	return Risk{Level: level, Reasons: reasons}
}
