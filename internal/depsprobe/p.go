package depsprobe

import (
	_ "github.com/go-piv/piv-go/v2/piv"
	_ "github.com/google/go-containerregistry/pkg/authn"
	_ "github.com/google/go-containerregistry/pkg/name"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/random"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/miekg/pkcs11"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/spf13/pflag"
	_ "github.com/theupdateframework/notary/client"
	_ "github.com/theupdateframework/notary/cryptoservice"
	_ "github.com/theupdateframework/notary/trustpinning"
	_ "github.com/theupdateframework/notary/tuf/data"
	_ "github.com/theupdateframework/notary/tuf/signed"
	_ "github.com/theupdateframework/notary/tuf/utils"
	_ "golang.org/x/term"
)
