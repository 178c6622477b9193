// Command sigstore-kms-trustagent lets cosign sign with a key held by
// trust-agent: `cosign sign --key trustagent://NAME IMAGE@DIGEST`.
//
// # What
//
// It is a KMS plugin in sigstore's cliplugin protocol v1
// (github.com/sigstore/sigstore/pkg/signature/kms/cliplugin): cosign, finding
// no built-in provider for the scheme trustagent://, runs the program
// sigstore-kms-trustagent from PATH with argv[1] "v1" and argv[2] a JSON
// request ({"initOptions":{"keyResourceID":"NAME",...},"methodName":...}),
// the message to sign on stdin, and reads one JSON answer on stdout; errors
// go in the answer's "errorMessage" (the exit status is not read).
//
// Methods: defaultAlgorithm and supportedAlgorithms (sigstore's names for
// the agent's key kinds), publicKey (the key's PKIX PEM from the agent),
// signMessage (the message goes to the agent as a "cosign" payload; the
// agent's policy, format/cosign, decides, signs and audits), verifySignature
// (checked here with sigstore's verifier and the agent's public key).
// createKey is refused: keys are made on the hardware with
// `trust-agent key generate NAME --role cosign [--repo REPO]`.
//
// NAME is a key name, a key ID or 7+ leading hex digits of one. The agent
// is found through TRUST_AGENT_SOCK, as for every trust-agent client.
//
// # Security
//
// The plugin holds no key and no PIN; it only carries the message. A
// digest alone (sigstore's CryptoSigner path) is refused: the agent signs
// only payloads it can read.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler"
	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/socket"
)

// maxMessageBytes caps what is read from stdin: a simple-signing payload
// is under a kilobyte; the agent's policy refuses anything over 64 KiB, so
// reading one byte more than that is enough to let it say so.
const maxMessageBytes = 64<<10 + 1

const prefix = "sigstore-kms-trustagent: "

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout))
}

func run(args []string, stdin io.Reader, stdout io.Writer) (code int) {
	defer func() {
		// A request sigstore's handler cannot take still gets an answer
		// in the protocol's error field, not a Go stack trace.
		if r := recover(); r != nil {
			handler.WriteErrorResponse(stdout, fmt.Errorf("%scannot handle this request (%v); this plugin speaks cliplugin %s as sigstore v1.10 sends it", prefix, r, common.ProtocolVersion))
			code = 1
		}
	}()
	if len(args) < 3 || args[1] != common.ProtocolVersion {
		// Not run by a sigstore client: say what this program is.
		fmt.Fprintf(os.Stderr, "%sthis is cosign's KMS plugin for trust-agent, run by cosign for --key trustagent://NAME (protocol %s); it is not run by hand\n", prefix, common.ProtocolVersion)
		handler.WriteErrorResponse(stdout, fmt.Errorf("%sexpected arguments %q and a JSON request", prefix, common.ProtocolVersion))
		return 2
	}
	pa, err := handler.GetPluginArgs(args)
	if err != nil {
		handler.WriteErrorResponse(stdout, fmt.Errorf("%scannot read the request: %v", prefix, err))
		return 1
	}
	if pa.InitOptions == nil || pa.MethodArgs == nil {
		handler.WriteErrorResponse(stdout, fmt.Errorf("%sthe request lacks initOptions or methodName", prefix))
		return 1
	}
	if v := pa.InitOptions.ProtocolVersion; v != common.ProtocolVersion {
		handler.WriteErrorResponse(stdout, fmt.Errorf("%sprotocol %q is not supported (this plugin speaks %s); use a cosign built with sigstore v1.9 or later", prefix, v, common.ProtocolVersion))
		return 1
	}
	ctx := context.Background()
	if d := pa.InitOptions.CtxDeadline; d != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, *d)
		defer cancel()
	}
	fillArgs(pa.MethodArgs)
	p := &plugin{ctx: ctx, ref: pa.InitOptions.KeyResourceID, hash: pa.InitOptions.HashFunc}
	defer p.close()
	resp, err := handler.Dispatch(stdout, io.LimitReader(stdin, maxMessageBytes), pa, p)
	if err != nil || resp.ErrorMessage != "" {
		return 1
	}
	return 0
}

// fillArgs gives every method's arguments their empty values where the
// request left them out: sigstore's handler dereferences them (a request
// with "methodName":"publicKey" and no "publicKey" would panic it).
func fillArgs(m *common.MethodArgs) {
	if m.DefaultAlgorithm == nil {
		m.DefaultAlgorithm = &common.DefaultAlgorithmArgs{}
	}
	if m.SupportedAlgorithms == nil {
		m.SupportedAlgorithms = &common.SupportedAlgorithmsArgs{}
	}
	if m.CreateKey == nil {
		m.CreateKey = &common.CreateKeyArgs{}
	}
	if m.PublicKey == nil {
		m.PublicKey = &common.PublicKeyArgs{}
	}
	if m.PublicKey.PublicKeyOptions == nil {
		m.PublicKey.PublicKeyOptions = &common.PublicKeyOptions{}
	}
	if m.SignMessage == nil {
		m.SignMessage = &common.SignMessageArgs{}
	}
	if m.SignMessage.SignOptions == nil {
		m.SignMessage.SignOptions = &common.SignOptions{}
	}
	if m.VerifySignature == nil {
		m.VerifySignature = &common.VerifySignatureArgs{}
	}
	if m.VerifySignature.VerifyOptions == nil {
		m.VerifySignature.VerifyOptions = &common.VerifyOptions{}
	}
}

// plugin answers one request. It dials the agent on first use.
type plugin struct {
	ctx  context.Context
	ref  string      // the key's name or ID, from trustagent://REF
	hash crypto.Hash // what the client asked for in initOptions (0: unsaid)

	c   *socket.Client
	key *agent.KeyInfo
	pub crypto.PublicKey
}

func (p *plugin) close() {
	if p.c != nil {
		p.c.Close()
	}
}

func (p *plugin) dial() (*socket.Client, error) {
	if p.c != nil {
		return p.c, nil
	}
	path := os.Getenv("TRUST_AGENT_SOCK")
	if path == "" {
		return nil, errors.New(prefix + "TRUST_AGENT_SOCK is not set: start the agent (eval \"$(trust-agent start ...)\") in the shell that runs cosign")
	}
	c, err := socket.Dial(path)
	if err != nil {
		return nil, fmt.Errorf("%sno trust-agent listening at %s (%v): start it with eval \"$(trust-agent start ...)\"", prefix, path, err)
	}
	p.c = c
	return c, nil
}

// resolve finds the key named or identified by p.ref, as the trust-agent
// CLI does (a name, a full ID, or 7+ leading hex digits of one).
func (p *plugin) resolve() (agent.KeyInfo, crypto.PublicKey, error) {
	if p.key != nil {
		return *p.key, p.pub, nil
	}
	if p.ref == "" {
		return agent.KeyInfo{}, nil, errors.New(prefix + "no key named: use --key trustagent://NAME, NAME as `trust-agent key list` shows it")
	}
	c, err := p.dial()
	if err != nil {
		return agent.KeyInfo{}, nil, err
	}
	keys, err := c.List(p.ctx)
	if err != nil {
		return agent.KeyInfo{}, nil, fmt.Errorf("%slisting the agent's keys: %w", prefix, err)
	}
	var match *agent.KeyInfo
	for i, k := range keys {
		if k.Name == p.ref || k.ID == p.ref || (len(p.ref) >= 7 && strings.HasPrefix(k.ID, p.ref)) {
			if match != nil && match.ID != k.ID {
				return agent.KeyInfo{}, nil, fmt.Errorf("%sseveral keys match %q; give the key's ID (see `trust-agent key list`)", prefix, p.ref)
			}
			match = &keys[i]
		}
	}
	if match == nil {
		return agent.KeyInfo{}, nil, fmt.Errorf("%sthe agent has no key named or with ID %q: make one with `trust-agent key generate %s --role cosign`, or see `trust-agent key list`", prefix, p.ref, p.ref)
	}
	pub, err := x509.ParsePKIXPublicKey(match.PublicKey)
	if err != nil {
		return agent.KeyInfo{}, nil, fmt.Errorf("%sthe agent's public key for %s does not parse: %v", prefix, match.Name, err)
	}
	p.key, p.pub = match, pub
	return *match, pub, nil
}

// algorithm is sigstore's name for what key signs with (format/cosign's
// choice: SHA-384 for P-384, SHA-512 for P-521, RSA PKCS #1 v1.5).
func algorithm(pub crypto.PublicKey) (string, crypto.Hash, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return "ecdsa-sha2-256-nistp256", crypto.SHA256, nil
		case 384:
			return "ecdsa-sha2-384-nistp384", crypto.SHA384, nil
		case 521:
			return "ecdsa-sha2-512-nistp521", crypto.SHA512, nil
		}
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-sign-pkcs1-%d-sha256", k.N.BitLen()), crypto.SHA256, nil
	}
	return "", 0, fmt.Errorf("%sa %T key cannot sign for cosign; use an ECDSA or RSA key", prefix, pub)
}

// supported is what `trust-agent key generate --role cosign` can make.
var supported = []string{
	"ecdsa-sha2-256-nistp256", "ecdsa-sha2-384-nistp384",
	"rsa-sign-pkcs1-2048-sha256", "rsa-sign-pkcs1-3072-sha256", "rsa-sign-pkcs1-4096-sha256",
}

// DefaultAlgorithm is the named key's algorithm when the agent answers,
// else what `key generate --role cosign` makes by default.
func (p *plugin) DefaultAlgorithm() string {
	if _, pub, err := p.resolve(); err == nil {
		if alg, _, err := algorithm(pub); err == nil {
			return alg
		}
	}
	return supported[0]
}

func (p *plugin) SupportedAlgorithms() []string { return supported }

func (p *plugin) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return nil, fmt.Errorf("%skeys are not made through cosign: make one on the hardware with `trust-agent key generate %s --role cosign [--repo REPO]`, then sign with --key trustagent://%s", prefix, orName(p.ref), orName(p.ref))
}

func orName(ref string) string {
	if ref == "" || !agent.ValidName(ref) {
		return "NAME"
	}
	return ref
}

func (p *plugin) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New(prefix + "the agent signs only payloads it can read, not digests")
}

func (p *plugin) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	_, pub, err := p.resolve()
	return pub, err
}

// SignMessage sends the message to the agent as a cosign payload.
func (p *plugin) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, fmt.Errorf("%sreading the message: %v", prefix, err)
	}
	var digest []byte
	hash := p.hash
	for _, o := range opts {
		o.ApplyDigest(&digest)
		var so crypto.SignerOpts
		o.ApplyCryptoSignerOpts(&so)
		if so != nil && so.HashFunc() != 0 {
			hash = so.HashFunc()
		}
	}
	if len(digest) > 0 && len(msg) == 0 {
		return nil, errors.New(prefix + "asked to sign a bare digest: the agent signs only payloads it can read (cosign's simple-signing JSON); sign with cosign sign --key trustagent://NAME IMAGE@DIGEST")
	}
	k, pub, err := p.resolve()
	if err != nil {
		return nil, err
	}
	_, keyHash, err := algorithm(pub)
	if err != nil {
		return nil, err
	}
	if hash != 0 && hash != keyHash {
		alg, _, _ := algorithm(pub)
		return nil, fmt.Errorf("%skey %s (%s) signs with %v but the client asked for %v, so verifiers would refuse the signature: use a P-256 key (trust-agent key generate NAME --role cosign), which signs with SHA-256 as cosign asks by default", prefix, k.Name, alg, keyHash, hash)
	}
	c, err := p.dial()
	if err != nil {
		return nil, err
	}
	sig, err := c.SignPayload(p.ctx, agent.PayloadRequest{KeyID: k.ID, Format: "cosign", Payload: msg})
	if err != nil {
		return nil, fmt.Errorf("%s%w", prefix, err)
	}
	return sig.Signature, nil
}

// VerifySignature checks a signature with sigstore's verifier and the
// agent's public key for the named key.
func (p *plugin) VerifySignature(sig, message io.Reader, _ ...signature.VerifyOption) error {
	_, pub, err := p.resolve()
	if err != nil {
		return err
	}
	_, h, err := algorithm(pub)
	if err != nil {
		return err
	}
	v, err := signature.LoadVerifier(pub, h)
	if err != nil {
		return fmt.Errorf("%s%v", prefix, err)
	}
	s, err := io.ReadAll(io.LimitReader(sig, 64<<10))
	if err != nil {
		return err
	}
	if err := v.VerifySignature(bytes.NewReader(s), message); err != nil {
		return fmt.Errorf("%sthe signature does not verify with key %s: %v", prefix, p.ref, err)
	}
	return nil
}
