package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// fromRadclient is an Access-Request that Debian's radclient
// (freeradius-utils 3.2) sent with
//
//	User-Name = "alice", User-Password = "correct horse battery",
//	NAS-Identifier = "vpn-gw", Message-Authenticator = 0x00
//
// and the secret "a shared secret of some length": FreeRADIUS's
// Message-Authenticator, put last, as a known answer.
const fromRadclient = "016400572f6bef5799fabc1bc537f5dcd1ef51580107616c69636502226119be6465f45dbbccdd5e70ee1a674d72696da545ff786a4c42fbac4d444032200876706e2d67775012aedaef9f38594a121ec7b97d27ce716d"

// check runs a request's bytes through the server's check.
func check(t *testing.T, b []byte, sec string) error {
	t.Helper()
	p, err := radius.Parse(b, []byte(sec))
	if err != nil {
		return err
	}
	at, err := messageAuthenticatorAt(p)
	if err != nil {
		return err
	}
	length := int(b[2])<<8 | int(b[3])
	if !checkMessageAuthenticator(zeroedForHMAC(b[:length], at), b[at:at+16], []byte(sec)) {
		return errBadMessageAuthenticator
	}
	return nil
}

func TestMessageAuthenticatorOfRadclientChecksOut(t *testing.T) {
	b, _ := hex.DecodeString(fromRadclient)
	if err := check(t, b, secret); err != nil {
		t.Fatalf("radclient's request: %v", err)
	}
	p, _ := radius.Parse(b, []byte(secret))
	if pw := rfc2865.UserPassword_GetString(p); pw != password {
		t.Fatalf("User-Password = %q", pw)
	}
	if err := check(t, b, "a shared secret of some lengtH"); !errors.Is(err, errBadMessageAuthenticator) {
		t.Fatalf("another secret: %v, want a bad Message-Authenticator", err)
	}
	// Any byte changed — header, authenticator, an attribute, the HMAC
	// itself — and it fails.
	for i := range b {
		if i == 2 || i == 3 {
			continue // the length: the packet no longer parses, or is cut
		}
		c := slices.Clone(b)
		c[i] ^= 0x20
		if err := check(t, c, secret); err == nil {
			t.Fatalf("byte %d changed, and the request still checks out", i)
		}
	}
	// Octets past the Length are padding, not covered (RFC 2865, 3).
	if err := check(t, append(slices.Clone(b), 0, 0, 0), secret); err != nil {
		t.Fatalf("with padding: %v", err)
	}
}

func TestMessageAuthenticatorMissingDoubledOrShort(t *testing.T) {
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	rfc2865.UserName_SetString(p, "alice")
	b, _ := p.Encode()
	if err := check(t, b, secret); !errors.Is(err, errNoMessageAuthenticator) {
		t.Fatalf("none: %v", err)
	}
	p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
	p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
	b, _ = p.Encode()
	if err := check(t, b, secret); !errors.Is(err, errBadMessageAuthenticator) {
		t.Fatalf("two: %v", err)
	}
	rfc2869.MessageAuthenticator_Del(p)
	p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 15))
	b, _ = p.Encode()
	if err := check(t, b, secret); !errors.Is(err, errBadMessageAuthenticator) {
		t.Fatalf("15 octets: %v", err)
	}
	// Signed with an empty secret: never taken.
	if checkMessageAuthenticator(b, make([]byte, 16), nil) {
		t.Fatal("an empty secret checked out")
	}
}

func TestAnswersCarryAMessageAuthenticatorFirst(t *testing.T) {
	b, _ := hex.DecodeString(fromRadclient)
	req, _ := radius.Parse(b, []byte(secret))
	req.Add(rfc2865.ProxyState_Type, radius.Attribute("p1"))
	for _, code := range []radius.Code{radius.CodeAccessAccept, radius.CodeAccessReject, radius.CodeAccessChallenge} {
		a := answerTo(req, code)
		rfc2865.ReplyMessage_SetString(a, "hello")
		out, err := encodeAnswer(a)
		if err != nil {
			t.Fatal(err)
		}
		// radclient's own checks, as layeh does them: the Response
		// Authenticator, then the HMAC (computed here over the raw bytes).
		if !radius.IsAuthenticResponse(out, b, []byte(secret)) {
			t.Fatalf("%v: the Response Authenticator is wrong", code)
		}
		if out[20] != byte(rfc2869.MessageAuthenticator_Type) || out[21] != 18 {
			t.Fatalf("%v: the first attribute is type %d", code, out[20])
		}
		z := slices.Clone(out)
		copy(z[4:20], b[4:20])
		clear(z[22:38])
		m := hmac.New(md5.New, []byte(secret))
		m.Write(z)
		if !hmac.Equal(m.Sum(nil), out[22:38]) {
			t.Fatalf("%v: the Message-Authenticator is wrong", code)
		}
		p, _ := radius.Parse(out, []byte(secret))
		if ps := rfc2865.ProxyState_Get(p); string(ps) != "p1" || p.Identifier != req.Identifier {
			t.Fatalf("%v: Proxy-State %q, identifier %d", code, ps, p.Identifier)
		}
	}
}
