//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// maxObjects caps how many objects of one class we read from a token: far
// more than a signing token holds, and a bound on a misbehaving module.
const maxObjects = 10000

// findBatch is how many handles one C_FindObjects call asks for.
const findBatch = 64

// find returns the handles of the objects matching template.
func (s *Store) find(sh pkcs11.SessionHandle, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := s.p.FindObjectsInit(sh, template); err != nil {
		return nil, wrap("find objects", err)
	}
	var all []pkcs11.ObjectHandle
	var ferr error
	for {
		hs, _, err := s.p.FindObjects(sh, findBatch)
		if err != nil {
			ferr = wrap("find objects", err)
			break
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
		if len(all) > maxObjects {
			ferr = fmt.Errorf("pkcs11: token %q holds more than %d matching objects", s.label, maxObjects)
			break
		}
	}
	// Always end the search, or the session refuses the next one
	// (CKR_OPERATION_ACTIVE).
	if err := s.p.FindObjectsFinal(sh); err != nil && ferr == nil {
		ferr = wrap("find objects", err)
	}
	return all, ferr
}

// attrs reads the attributes types of object o, in order.
func (s *Store) attrs(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, types ...uint) ([][]byte, error) {
	t := make([]*pkcs11.Attribute, len(types))
	for i, typ := range types {
		t[i] = pkcs11.NewAttribute(typ, nil)
	}
	got, err := s.p.GetAttributeValue(sh, o, t)
	if err != nil {
		return nil, wrap("read attributes", err)
	}
	out := make([][]byte, len(types))
	for i, a := range got {
		out[i] = a.Value
	}
	return out, nil
}

// ulong decodes a CK_ULONG attribute (host byte order, host word size:
// the library copies the C value as is).
func ulong(b []byte) uint {
	var v uint
	// Little-endian hosts only: amd64 and arm64, where this runs.
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint(b[i])
	}
	return v
}

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
)

// ecParams is CKA_EC_PARAMS for curve: the DER of its named-curve OID.
func ecParams(curve elliptic.Curve) ([]byte, error) {
	switch curve {
	case elliptic.P256():
		return asn1.Marshal(oidP256)
	case elliptic.P384():
		return asn1.Marshal(oidP384)
	}
	return nil, fmt.Errorf("pkcs11: curve %s is not supported (P-256 and P-384 are)", curve.Params().Name)
}

func curveFromParams(params []byte) (elliptic.Curve, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) > 0 {
		return nil, errors.New("pkcs11: CKA_EC_PARAMS is not a named-curve OID")
	}
	switch {
	case oid.Equal(oidP256):
		return elliptic.P256(), nil
	case oid.Equal(oidP384):
		return elliptic.P384(), nil
	}
	return nil, fmt.Errorf("pkcs11: curve %s is not supported", oid)
}

// ecPoint decodes CKA_EC_POINT. PKCS#11 says it is the DER encoding of an
// OCTET STRING around the uncompressed point, and SoftHSM does that; some
// older modules return the bare point, so that is accepted too.
func ecPoint(curve elliptic.Curve, v []byte) (*ecdsa.PublicKey, error) {
	var point []byte
	if rest, err := asn1.Unmarshal(v, &point); err != nil || len(rest) > 0 {
		point = v
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: CKA_EC_POINT: %w", err)
	}
	return pub, nil
}

// publicKey reads the public key of a key object (public, or private where
// the token exposes the public parts) given its CKA_KEY_TYPE.
func (s *Store) publicKey(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, keyType uint) (crypto.PublicKey, error) {
	switch keyType {
	case pkcs11.CKK_EC:
		v, err := s.attrs(sh, o, pkcs11.CKA_EC_PARAMS, pkcs11.CKA_EC_POINT)
		if err != nil {
			return nil, err
		}
		curve, err := curveFromParams(v[0])
		if err != nil {
			return nil, err
		}
		return ecPoint(curve, v[1])
	case pkcs11.CKK_RSA:
		v, err := s.attrs(sh, o, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT)
		if err != nil {
			return nil, err
		}
		e := new(big.Int).SetBytes(v[1])
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, errors.New("pkcs11: RSA public exponent out of range")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(v[0]), E: int(e.Int64())}, nil
	}
	return nil, fmt.Errorf("pkcs11: key type 0x%X is not supported", keyType)
}
