package virtualcard

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
)

// privateKeyOp is GENERAL AUTHENTICATE with an asymmetric key: {82 00,
// 81 data} signs (ECDSA over a digest, Ed25519 over the message) or
// applies the raw RSA private key to an already padded block (which is
// both RSA signing and decryption); {82 00, 85 point} is ECDH. The
// answer is {82 result}.
func (c *Card) privateKeyOp(alg, slot byte, inner []tlv) response {
	s, ok := c.st.Slots[slotName(slot)]
	if !ok {
		// An empty slot is a bad parameter here (6A80), deliberately not
		// 6A82/6A88: piv-go would turn those into ErrNotFound, and a
		// backend must not learn to rely on that from a fixture.
		return fail(swIncorrectData)
	}
	if s.Alg != alg {
		return fail(swIncorrectData)
	}
	if r, ok := find(inner, tagResponse); !ok || len(r) != 0 {
		return fail(swIncorrectData)
	}
	chal, isSign := find(inner, tagChallenge)
	point, isECDH := find(inner, tagExponent)
	if isSign == isECDH {
		return fail(swIncorrectData)
	}

	switch s.PINPolicy {
	case pinOnce:
		if !c.s.pinVerified {
			return fail(swSecurityStatus)
		}
	case pinAlways:
		// Only a VERIFY as the command just before counts; it is
		// used up by this operation.
		if !c.s.pinJust {
			return fail(swSecurityStatus)
		}
		c.s.pinJust = false
	}
	if !c.touch(slot, s.TouchPolicy) {
		return fail(swSecurityStatus)
	}

	priv, err := s.key()
	if err != nil {
		return fail(swMemoryFailure)
	}
	var out []byte
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if isSign {
			out, err = ecdsa.SignASN1(rand.Reader, k, chal)
		} else {
			out, err = ecdhP(k, point)
		}
	case ed25519.PrivateKey:
		if !isSign {
			return fail(swIncorrectData)
		}
		out = ed25519.Sign(k, chal)
	case *ecdh.PrivateKey:
		if isSign {
			return fail(swIncorrectData)
		}
		var peer *ecdh.PublicKey
		if peer, err = ecdh.X25519().NewPublicKey(point); err == nil {
			out, err = k.ECDH(peer)
		}
	case *rsa.PrivateKey:
		if !isSign {
			return fail(swIncorrectData)
		}
		out, err = rawRSA(k, chal)
	default:
		return fail(swMemoryFailure)
	}
	if err != nil {
		return fail(swIncorrectData)
	}
	return success(tlvBytes(tagDynAuth, tlvBytes(tagResponse, out)))
}

// ecdhP is ECDH on P-256/P-384; the secret is the x coordinate.
func ecdhP(k *ecdsa.PrivateKey, point []byte) ([]byte, error) {
	ek, err := k.ECDH()
	if err != nil {
		return nil, err
	}
	peer, err := ek.Curve().NewPublicKey(point)
	if err != nil {
		return nil, err
	}
	return ek.ECDH(peer)
}

// rawRSA computes in^d mod n, the card's only RSA primitive: the client
// pads for signatures (PKCS #1 v1.5 or PSS) and unpads after decryption.
// The input must be exactly the modulus length and below the modulus;
// the output keeps leading zeros, as a card answers.
func rawRSA(k *rsa.PrivateKey, in []byte) ([]byte, error) {
	size := k.Size()
	if len(in) != size {
		return nil, errBadInput
	}
	m := new(big.Int).SetBytes(in)
	if m.Cmp(k.N) >= 0 {
		return nil, errBadInput
	}
	// Math/big is not constant time; this is a test fixture, not a
	// signer of anything that matters.
	out := new(big.Int).Exp(m, k.D, k.N)
	return out.FillBytes(make([]byte, size)), nil
}
