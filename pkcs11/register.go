package pkcs11

import (
	"context"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/backend"
)

// Scheme is the URI scheme this backend registers: an RFC 7512 PKCS#11
// URI with module-path= (and optionally pin-source=file:...).
const Scheme = "pkcs11"

func init() {
	backend.Register(Scheme, func(_ context.Context, uri string, opts backend.Options) (agent.KeyStore, error) {
		s, err := Open(uri)
		if err != nil {
			return nil, err
		}
		s.SetLogger(opts.Logger) // keys it leaves out of a listing (tampered objects) are reported there
		return s, nil
	})
}
