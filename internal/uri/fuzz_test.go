package uri

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseURI feeds arbitrary strings to Parse. It must never panic; what
// it accepts must re-format (ConfigString) and re-parse to the same value,
// and its display form (String) must never carry pin-source. Seeds live in
// testdata/fuzz/FuzzParseURI; `make fuzz` explores.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:",
		"pkcs11:token=dct;id=%01%02",
		"pkcs11:token=My%20Token;object=root;type=private?pin-source=file:/run/pin",
		"pkcs11:serial=1234;manufacturer=SoftHSM%20project;model=SoftHSM%20v2",
		"pkcs11:token=a?pin-source=file:///etc/pin",
		"pkcs11:token=a?pin-value=1234",
		"pkcs11:token=a;token=b",
		"pkcs11:id=%zz",
		"pkcs11:token=%",
		"pkcs11:object=a%3Bb%26c%3Fd",
		"pkcs11:token=x?module-path=/",
		"PKCS11:token=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if !sameURI(u, URI{}) {
				t.Fatalf("Parse(%q) failed (%v) but returned %+v", s, err, u)
			}
			return
		}
		again, err := Parse(u.ConfigString())
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, whose ConfigString %q does not parse: %v", s, u, u.ConfigString(), err)
		}
		if !sameURI(u, again) {
			t.Fatalf("Parse(%q) = %+v; re-parsed from %q: %+v", s, u, u.ConfigString(), again)
		}
		if u.PINSource != "" && strings.Contains(u.String(), "pin-source") {
			t.Fatalf("String() of %q shows pin-source: %q", s, u.String())
		}
	})
}

// sameURI compares two URIs; an empty ID equals a missing one (String
// leaves an empty attribute out).
func sameURI(a, b URI) bool {
	idA, idB := a.ID, b.ID
	a.ID, b.ID = nil, nil
	return reflect.DeepEqual(a, b) && bytes.Equal(idA, idB)
}
