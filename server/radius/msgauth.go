package radius

// Message-Authenticator (RFC 3579, section 3.2): an HMAC-MD5 of the whole
// packet, keyed with the shared secret, computed with the attribute's own
// value set to sixteen zero octets. An Access-Request carries no other
// proof of the secret (its Request Authenticator is random), so without
// it a request can be forged or, as the BlastRADIUS attack
// (CVE-2024-3596) shows, an answer altered on the way; Assent requires it
// on every request and puts it first in every answer. layeh.com/radius
// knows the attribute but not its HMAC: that is here.

import (
	"crypto/hmac"
	"crypto/md5"
	"errors"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
)

// messageAuthenticatorLen is the length of the attribute's value.
const messageAuthenticatorLen = md5.Size

// Why a request's Message-Authenticator does not check out.
var (
	errNoMessageAuthenticator  = errors.New("no Message-Authenticator")
	errBadMessageAuthenticator = errors.New("bad Message-Authenticator")
)

// messageAuthenticatorAt finds the one Message-Authenticator of a parsed
// packet and where its value starts in the packet's wire form (which
// radius.Parse walked the same way): errNoMessageAuthenticator when there
// is none, errBadMessageAuthenticator when there are several or it is not
// 16 octets long (RFC 3579: at most one, of length 18).
func messageAuthenticatorAt(p *radius.Packet) (int, error) {
	at, off := -1, 20
	for _, avp := range p.Attributes {
		if avp.Type == rfc2869.MessageAuthenticator_Type {
			if at >= 0 || len(avp.Attribute) != messageAuthenticatorLen {
				return 0, errBadMessageAuthenticator
			}
			at = off + 2
		}
		off += 2 + len(avp.Attribute)
	}
	if at < 0 {
		return 0, errNoMessageAuthenticator
	}
	return at, nil
}

// zeroedForHMAC is a copy of a request's wire form (raw, up to its Length)
// with the Message-Authenticator's value at at set to zeros: what the
// HMAC is computed over.
func zeroedForHMAC(raw []byte, at int) []byte {
	z := append([]byte(nil), raw...)
	clear(z[at : at+messageAuthenticatorLen])
	return z
}

func hmacMD5(secret, msg []byte) []byte {
	m := hmac.New(md5.New, secret)
	m.Write(msg)
	return m.Sum(nil)
}

// checkMessageAuthenticator says whether a request's Message-Authenticator
// was made with secret; zeroed is zeroedForHMAC of the request and got the
// attribute's value. The comparison takes the same time wherever the two
// differ.
func checkMessageAuthenticator(zeroed, got, secret []byte) bool {
	return len(secret) > 0 && hmac.Equal(hmacMD5(secret, zeroed), got)
}

// encodeAnswer encodes an answer (Access-Accept, -Reject or -Challenge)
// to request, with a Message-Authenticator as its first attribute: the
// HMAC is taken over the answer with the request's authenticator in the
// authenticator field and the attribute zeroed, then the Response
// Authenticator (an MD5 over the packet, the HMAC included) is computed by
// Encode. a.Authenticator must be the request's (Packet.Response copies
// it).
func encodeAnswer(a *radius.Packet) ([]byte, error) {
	rfc2869.MessageAuthenticator_Del(a)
	ma := &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: make(radius.Attribute, messageAuthenticatorLen)}
	a.Attributes = append(radius.Attributes{ma}, a.Attributes...)
	b, err := a.MarshalBinary()
	if err != nil {
		return nil, err
	}
	copy(ma.Attribute, hmacMD5(a.Secret, b))
	return a.Encode()
}
