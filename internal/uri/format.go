package uri

import (
	"fmt"
	"strings"
)

// String renders u for display: the path attributes and module-path, in a
// fixed order, percent-encoded per RFC 7512. It never includes pin-source:
// a display string ends up in logs and listings, and the location of a PIN
// file is nobody else's business. Parse(u.String()) gives back u without
// its PINSource.
func (u URI) String() string { return u.format(false) }

// ConfigString renders u like String but keeps pin-source: for a
// configuration file or a command line that must reopen the token and log
// in. The PIN itself is never in a URI.
func (u URI) ConfigString() string { return u.format(true) }

func (u URI) format(withPINSource bool) string {
	var b strings.Builder
	b.WriteString(Scheme)
	sep := ""
	attr := func(name string, val []byte) {
		if len(val) == 0 {
			return
		}
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(escape(val, pathSafe))
		sep = ";"
	}
	attr("token", []byte(u.Token))
	attr("manufacturer", []byte(u.Manufacturer))
	attr("model", []byte(u.Model))
	attr("serial", []byte(u.Serial))
	// id is always fully percent-encoded: it is binary, and %01%02 is how
	// every PKCS#11 tool prints it.
	if len(u.ID) > 0 {
		b.WriteString(sep + "id=")
		for _, c := range u.ID {
			fmt.Fprintf(&b, "%%%02X", c)
		}
		sep = ";"
	}
	attr("object", []byte(u.Object))
	attr("type", []byte(u.Type))
	qsep := "?"
	if u.ModulePath != "" {
		b.WriteString(qsep + "module-path=" + escape([]byte(u.ModulePath), querySafe))
		qsep = "&"
	}
	if withPINSource && u.PINSource != "" {
		b.WriteString(qsep + "pin-source=file:" + escape([]byte(u.PINSource), querySafe))
	}
	return b.String()
}

// pathSafe and querySafe are the characters RFC 7512 allows unencoded in
// path and query attribute values besides the RFC 3986 unreserved ones
// (pk11-path-res-avail and pk11-query-res-avail). ';' separates path
// attributes and '&' query attributes, so neither is safe in a value.
const (
	pathSafe  = ":[]@!$'()*+,="
	querySafe = ":[]@!$'()*+,=/?|"
)

// escape percent-encodes every byte of v that is not unreserved and not
// in safe.
func escape(v []byte, safe string) string {
	var b strings.Builder
	for _, c := range v {
		if unreserved(c) || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// unescape decodes %XX sequences. RFC 7512 leaves every other character
// as is (unlike HTML forms, '+' is not a space).
func unescape(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return nil, fmt.Errorf("malformed percent-encoding at %q", s[i:min(i+3, len(s))])
		}
		out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	return out, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
