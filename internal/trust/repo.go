package trust

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
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
	var remote storage.RemoteStore
	remote, err = storage.NewNotaryServerStore(server, ref.gun, rt)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("invalid trust server URL %s: %v", server, err), Err: err}
	}
	remote = &rememberTimestamp{RemoteStore: remote}
	if o.requireFresh && !o.Offline {
		remote = freshTimestamp{RemoteStore: remote}
	}
	if cs == nil {
		cs = cryptoservice.NewCryptoService()
	}
	return client.NewRepository(ref.gun, server, remote, cache, trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
}

// freshTimestamp makes an unreachable server an error when fetching the
// timestamp. Notary otherwise falls back to the cached timestamp for as
// long as it has not expired (two weeks on notary-server), so a tag revoked
// since the cache was filled would still verify while the server is out of
// reach; verify is a gate, so it asks the server or fails (--offline
// restores notary's behaviour).
type freshTimestamp struct {
	storage.RemoteStore
}

func (f freshTimestamp) GetSized(name string, size int64) ([]byte, error) {
	b, err := f.RemoteStore.GetSized(name, size)
	if name != data.CanonicalTimestampRole.String() {
		return b, err
	}
	if unreachable(err) {
		return nil, staleError(err)
	}
	return b, err
}

// unreachable reports notary's errors for a server it could not talk to
// (not one that answered 401: that is for credentials, see
// unauthorizedHint).
func unreachable(err error) bool {
	switch err.(type) {
	case storage.ErrServerUnavailable:
		return !strings.Contains(err.Error(), "401")
	case storage.ErrOffline, storage.NetworkError:
		return true
	}
	return false
}

// staleError is Verify's refusal to answer from the cache alone. (Notary,
// refused the cached timestamp, tries to download the root next; that
// fails the same way, so Verify words both.)
func staleError(err error) error {
	if _, ok := err.(*Error); ok {
		return err
	}
	return &Error{
		Msg: fmt.Sprintf("error contacting notary server: %v", err), // docker's words
		Hint: "check the server URL (" + ServerEnv + "), the network and the server's TLS CA in DOCKER_CONFIG/tls/<host:port>/ca.crt; " +
			"verify does not answer from the local cache alone, since a tag revoked after the cache was filled would still pass: pass --offline to accept that",
		Err: err,
	}
}

// rememberTimestamp keeps the timestamp the server sent until this client
// writes to the server. Notary updates the repository before every
// operation (a sign lists roles, reads delegations, then publishes: three
// updates, three downloads of timestamp.json within a fraction of a
// second); the first answer serves them all. Everything else notary reads
// is named by its hash or version, or already cached on disk. A write
// (Publish) forgets the timestamp, since the server makes a new one, and so
// does an error, which is never remembered. Remembering it is safe: a
// publish built on a timestamp someone else has since replaced is refused
// by the server as out of date, exactly as with a fresh download.
type rememberTimestamp struct {
	storage.RemoteStore
	mu        sync.Mutex
	timestamp []byte
}

func (r *rememberTimestamp) GetSized(name string, size int64) ([]byte, error) {
	if name != data.CanonicalTimestampRole.String() {
		return r.RemoteStore.GetSized(name, size)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timestamp != nil && (size < 0 || int64(len(r.timestamp)) <= size) {
		return r.timestamp, nil
	}
	b, err := r.RemoteStore.GetSized(name, size)
	if err == nil {
		r.timestamp = b
	}
	return b, err
}

func (r *rememberTimestamp) forget() {
	r.mu.Lock()
	r.timestamp = nil
	r.mu.Unlock()
}

func (r *rememberTimestamp) Set(name string, blob []byte) error {
	r.forget()
	return r.RemoteStore.Set(name, blob)
}

func (r *rememberTimestamp) SetMulti(blobs map[string][]byte) error {
	r.forget()
	return r.RemoteStore.SetMulti(blobs)
}

func (r *rememberTimestamp) Remove(name string) error {
	r.forget()
	return r.RemoteStore.Remove(name)
}

func (r *rememberTimestamp) RemoveAll() error {
	r.forget()
	return r.RemoteStore.RemoveAll()
}
