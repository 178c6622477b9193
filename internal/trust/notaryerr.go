package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/signed"
)

// notaryError words a notary failure as docker's trust.NotaryError does
// (without its leading "Error: "), keeps the cause, and adds a next step.
// Like docker it tests the error's own type: notary returns these unwrapped.
func notaryError(repoName string, err error) error {
	if _, ok := err.(*Error); ok { // already worded here, e.g. by freshTimestamp
		return err
	}
	e := &Error{Err: err}
	switch err.(type) {
	case *json.SyntaxError:
		e.Msg = fmt.Sprintf("no trust data available for remote repository %s. Try running notary server and setting DOCKER_CONTENT_TRUST_SERVER to its HTTPS address?", repoName)
		e.Hint = "the server did not answer with TUF metadata: check " + ServerEnv
	case signed.ErrExpired:
		e.Msg = fmt.Sprintf("remote repository %s out-of-date: %v", repoName, err)
		e.Hint = "the signer must re-sign the repository (timestamp and snapshot expire)"
	case trustmanager.ErrKeyNotFound:
		e.Msg = fmt.Sprintf("signing keys for remote repository %s not found: %v", repoName, err)
		e.Hint = "check that the agent holds the key: trust-agent list"
	case storage.NetworkError:
		e.Msg = fmt.Sprintf("error contacting notary server: %v", err)
		e.Hint = "check the server URL (" + ServerEnv + "), the network and the server's TLS CA in DOCKER_CONFIG/tls/<host:port>/ca.crt"
	case storage.ErrMetaNotFound:
		e.Msg = fmt.Sprintf("trust data missing for remote repository %s or remote repository not found: %v", repoName, err)
		e.Hint = "check the repository name and that it has been signed"
	// notary returns the trustpinning errors as pointers, which docker's
	// switch (on values) misses; both forms are the same warning.
	case trustpinning.ErrRootRotationFail, trustpinning.ErrValidationFail, signed.ErrInvalidKeyType,
		*trustpinning.ErrRootRotationFail, *trustpinning.ErrValidationFail:
		e.Msg = fmt.Sprintf("Warning: potential malicious behavior - trust data mismatch for remote repository %s: %v", repoName, err)
		e.Hint = "do not use this image; if the repository was deleted and re-created on purpose, remove its cache, $DOCKER_CONFIG/trust/tuf/" + repoName + " (default ~/.docker/trust/tuf/" + repoName + ")"
	case signed.ErrNoKeys:
		e.Msg = fmt.Sprintf("could not find signing keys for remote repository %s, or could not decrypt signing key: %v", repoName, err)
		e.Hint = "check that the agent is running and unlocked: trust-agent status"
	case signed.ErrLowVersion, signed.ErrRoleThreshold:
		e.Msg = fmt.Sprintf("Warning: potential security issue with remote repository %s, or could not decrypt signing key: %v", repoName, err)
		e.Hint = "do not use this image until the repository's signers have checked its trust data"
	case client.ErrRepositoryNotExist:
		e.Msg = fmt.Sprintf("remote trust data does not exist for %s: %v", repoName, err)
		e.Hint = "the repository is not signed on this server: check the name and " + ServerEnv
	case signed.ErrInsufficientSignatures:
		e.Msg = fmt.Sprintf("could not produce valid signature for %s.  If Yubikey was used, was touch input provided?: %v", repoName, err)
		e.Hint = "check that the agent is unlocked and that the device was touched if it asks for touch"
	case client.ErrNoSuchTarget:
		e.Msg = err.Error()
		e.Hint = "the tag is not signed: sign it, or use a tag that is"
	case storage.ErrInvalidOperation:
		// notary-server's 400: the upload did not validate. The one way
		// a client makes that happen by itself is a delegation whose
		// metadata lost its signers' keys (see witness.go); Sign detects
		// that first, but metadata can change between the check and the
		// publish, or be in a state the check cannot see.
		e.Msg = err.Error()
		e.Hint = "the server found the new trust data invalid; if a signer was removed from " + repoName + " recently, re-sign what it signed last: trust-agent signer witness " + repoName + "; else run the command again (another client may have published meanwhile)"
	case storage.ErrServerUnavailable:
		e.Msg = err.Error()
		e.Hint = unauthorizedHint(repoName, err)
	default:
		e.Msg = strings.TrimPrefix(err.Error(), "trust: ") // Error adds it back
	}
	return e
}

// unauthorizedHint is what to do when the notary server answered 401 for
// repoName, "" for any other error. Docker sends the notary server's token
// service the credentials stored for the image's registry (not for the
// notary host), so that is where to log in.
func unauthorizedHint(repoName string, err error) string {
	var unavailable storage.ErrServerUnavailable
	if !errors.As(err, &unavailable) || !strings.Contains(unavailable.Error(), "401") {
		return ""
	}
	login := "docker login"
	if ref, perr := parseRef(repoName); perr == nil && !ref.official {
		login += " " + ref.index
	}
	return "the notary server requires authentication; it accepts the credentials of the image's registry: run " + login + " as a user who may pull (and, to sign, push) " + repoName
}
