package trust

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/signed"
)

// Actions requested in the token scope, as docker names them.
var (
	actionsPull     = []string{"pull"}
	actionsPushPull = []string{"pull", "push"}
)

// tufDir is the cache directory under the trust directory, as in notary.
const tufDir = "tuf"

// openRepo opens ref's notary repository with the TUF cache shared with
// docker (TrustDir/tuf/<GUN>/metadata), an in-memory changelist (nothing is
// staged on disk) and cs for keys (nil: no keys, enough to read).
func openRepo(ctx context.Context, o Options, ref imageRef, cs signed.CryptoService, actions ...string) (client.Repository, error) {
	server, err := o.server(ref.index, ref.official)
	if err != nil {
		return nil, err
	}
	trustDir, err := o.trustDir()
	if err != nil {
		return nil, err
	}
	rt, err := notaryTransport(ctx, o, server, ref, actions...)
	if err != nil {
		return nil, err
	}
	cacheDir := filepath.Join(trustDir, tufDir, filepath.FromSlash(ref.gun.String()), "metadata")
	cache, err := storage.NewFileStore(cacheDir, "json")
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("cannot open the trust cache %s: %v", cacheDir, err), Hint: "check that the trust directory is writable", Err: err}
	}
	remote, err := storage.NewNotaryServerStore(server, ref.gun, rt)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("invalid trust server URL %s: %v", server, err), Err: err}
	}
	if cs == nil {
		cs = cryptoservice.NewCryptoService()
	}
	return client.NewRepository(ref.gun, server, remote, cache, trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
}
