// Package notationplugin is the Notation plugin notation-trust-agent
// (contract 1.0, SIGNATURE_GENERATOR.RAW) over a trust-agent socket;
// cmd/notation-trust-agent is its executable. See that command's doc.
//
// # Concurrency
//
// Each plugin run is one process and one request; Plugin holds no state.
//
// # Security
//
// The plugin holds no key and decides nothing: the agent checks every
// payload against format/notation's policy, signs on the hardware and
// writes the audit line. A key of another role is sent to the agent
// anyway, so its refusal is audited.
package notationplugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/notaryproject/notation-plugin-framework-go/cli"
	"github.com/notaryproject/notation-plugin-framework-go/plugin"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/format/notation"
	"github.com/trust-agent/trust-agent/socket"
)

// Name is the plugin's name: notation requires it to equal the folder the
// plugin is installed in.
const Name = "trust-agent"

// Version is the plugin's version as get-plugin-metadata reports it.
var Version = "0.1.0"

// Main runs the plugin on os.Args, as notation calls it, and exits.
func Main() {
	c, err := cli.New(&Plugin{})
	if err != nil {
		fmt.Fprintf(os.Stderr, `{"errorCode":"ERROR","errorMessage":%q}`, "notation-trust-agent: "+err.Error())
		os.Exit(1)
	}
	c.Execute(context.Background(), os.Args)
}

// Plugin implements notation's plugin.Plugin over a trust-agent socket.
type Plugin struct{}

var _ plugin.Plugin = (*Plugin)(nil)

func (p *Plugin) GetMetadata(context.Context, *plugin.GetMetadataRequest) (*plugin.GetMetadataResponse, error) {
	return &plugin.GetMetadataResponse{
		Name:                      Name,
		Description:               "Signs with hardware keys (PKCS#11 tokens, PIV cards) held by trust-agent, under its policy and audit",
		Version:                   Version,
		URL:                       "https://github.com/trust-agent/trust-agent",
		SupportedContractVersions: []string{plugin.ContractVersion},
		Capabilities:              []plugin.Capability{plugin.CapabilitySignatureGenerator},
	}, nil
}

// connect opens the agent named by pluginConfig or TRUST_AGENT_SOCK.
func (p *Plugin) connect(config map[string]string) (agent.Agent, func() error, error) {
	path := config["socket"]
	if path == "" {
		path = os.Getenv("TRUST_AGENT_SOCK")
	}
	if path == "" {
		return nil, nil, plugin.NewError(plugin.ErrorCodeValidation, "notation-trust-agent: no agent: TRUST_AGENT_SOCK is not set and no --plugin-config socket=PATH was given; start one with eval \"$(trust-agent start ...)\"")
	}
	c, err := socket.Dial(path)
	if err != nil {
		return nil, nil, plugin.NewGenericErrorf("notation-trust-agent: no agent at %s: %v; start one with eval \"$(trust-agent start ...)\" or point TRUST_AGENT_SOCK at it", path, err)
	}
	return c, c.Close, nil
}

// findKey resolves KEY (a name, an ID, or an ID prefix of at least 8
// characters) among the agent's keys. Notation keys come first: a name
// that is a notation key's and another key's means the notation key.
func findKey(ctx context.Context, a agent.Agent, id string) (agent.KeyInfo, error) {
	keys, err := a.List(ctx)
	if err != nil {
		return agent.KeyInfo{}, agentError("listing the agent's keys", err)
	}
	var notationKeys, others []agent.KeyInfo
	for _, k := range keys {
		if k.ID != id && k.Name != id && (len(id) < 8 || !strings.HasPrefix(k.ID, id)) {
			continue
		}
		list := &others
		if k.Role == agent.RoleNotation {
			list = &notationKeys
		}
		if len(*list) == 0 || (*list)[0].ID != k.ID { // copies of one key are one key
			*list = append(*list, k)
		}
	}
	switch {
	case len(notationKeys) == 1:
		return notationKeys[0], nil
	case len(notationKeys) > 1:
		return agent.KeyInfo{}, plugin.NewValidationErrorf("notation-trust-agent: %q names %d notation keys; pass the key's ID (trust-agent key list)", id, len(notationKeys))
	case len(others) == 1:
		return others[0], nil // the agent refuses it, and says so in its audit log
	}
	return agent.KeyInfo{}, plugin.NewValidationErrorf("notation-trust-agent: the agent holds no notation key %q; see trust-agent key list, or make one with trust-agent key generate %s --role notation", id, id)
}

// notANotationKey is the error for a key of another role.
func notANotationKey(id string, k agent.KeyInfo) error {
	return plugin.NewError(plugin.ErrorCodeAccessDenied, fmt.Sprintf("notation-trust-agent: key %q is a %s key; notation signs only with notation keys (trust-agent key generate NAME --role notation)", id, k.Role))
}

func (p *Plugin) DescribeKey(ctx context.Context, req *plugin.DescribeKeyRequest) (*plugin.DescribeKeyResponse, error) {
	a, done, err := p.connect(req.PluginConfig)
	if err != nil {
		return nil, err
	}
	defer done()
	k, err := findKey(ctx, a, req.KeyID)
	if err != nil {
		return nil, err
	}
	if k.Role != agent.RoleNotation {
		return nil, notANotationKey(req.KeyID, k)
	}
	spec, err := notation.SpecOfDER(k.PublicKey)
	if err != nil {
		return nil, plugin.NewValidationError(err.Error())
	}
	return &plugin.DescribeKeyResponse{KeyID: req.KeyID, KeySpec: plugin.KeySpec(spec.Name)}, nil
}

func (p *Plugin) GenerateSignature(ctx context.Context, req *plugin.GenerateSignatureRequest) (*plugin.GenerateSignatureResponse, error) {
	if req.ContractVersion != plugin.ContractVersion {
		return nil, plugin.NewUnsupportedContractVersionError(req.ContractVersion)
	}
	a, done, err := p.connect(req.PluginConfig)
	if err != nil {
		return nil, err
	}
	defer done()
	k, err := findKey(ctx, a, req.KeyID)
	if err != nil {
		return nil, err
	}
	if k.Role != agent.RoleNotation {
		// Sent anyway: the agent refuses a key of another role and writes
		// the refusal to its audit log.
		_, err := a.SignPayload(ctx, agent.PayloadRequest{KeyID: k.ID, Format: notation.Format, Payload: req.Payload})
		if err == nil {
			return nil, notANotationKey(req.KeyID, k)
		}
		return nil, agentError("signing", err)
	}
	spec, err := notation.SpecOfDER(k.PublicKey)
	if err != nil {
		return nil, plugin.NewValidationError(err.Error())
	}
	if string(req.KeySpec) != spec.Name {
		return nil, plugin.NewValidationErrorf("notation-trust-agent: key %s is %s, not %s", req.KeyID, spec.Name, req.KeySpec)
	}
	if want := "SHA-" + strings.TrimPrefix(spec.Hash.String(), "SHA-"); string(req.Hash) != want {
		return nil, plugin.NewValidationErrorf("notation-trust-agent: key %s (%s) signs with %s, not %s", req.KeyID, spec.Name, want, req.Hash)
	}
	if len(k.Chain) == 0 && backendLocked(ctx, a, k.Backend) {
		// The chain is a private object on the token, unreadable while it
		// is locked: let the agent refuse (and audit) the request.
		if _, err := a.SignPayload(ctx, agent.PayloadRequest{KeyID: k.ID, Format: notation.Format, Payload: req.Payload}); err != nil {
			return nil, agentError("signing", err)
		}
	}
	if len(k.Chain) == 0 {
		return nil, plugin.NewValidationErrorf("notation-trust-agent: key %s has no certificate; make one with trust-agent key certify %s (or store a CA's with --chain FILE)", req.KeyID, k.Name)
	}
	sig, err := a.SignPayload(ctx, agent.PayloadRequest{KeyID: k.ID, Format: notation.Format, Payload: req.Payload})
	if err != nil {
		return nil, agentError("signing", err)
	}
	return &plugin.GenerateSignatureResponse{
		KeyID:            req.KeyID,
		Signature:        sig.Signature,
		SigningAlgorithm: plugin.SignatureAlgorithm(sig.Algorithm),
		CertificateChain: k.Chain,
	}, nil
}

// backendLocked reports whether the agent says backend is locked.
func backendLocked(ctx context.Context, a agent.Agent, backend string) bool {
	st, err := a.Status(ctx)
	if err != nil {
		return false
	}
	for _, b := range st.Backends {
		if b.Name == backend {
			return b.Locked
		}
	}
	return st.Locked
}

// agentError maps the agent's errors to the plugin contract's codes.
func agentError(doing string, err error) error {
	code := plugin.ErrorCodeGeneric
	switch {
	case errors.Is(err, agent.ErrDenied), errors.Is(err, agent.ErrLocked): // the agent's message says how to unlock
		code = plugin.ErrorCodeAccessDenied
	case errors.Is(err, agent.ErrNotFound):
		code = plugin.ErrorCodeValidation
	}
	return plugin.NewError(code, fmt.Sprintf("notation-trust-agent: %s: %v", doing, err))
}

func (p *Plugin) GenerateEnvelope(context.Context, *plugin.GenerateEnvelopeRequest) (*plugin.GenerateEnvelopeResponse, error) {
	return nil, plugin.NewUnsupportedError("notation-trust-agent: generate-envelope (the plugin has SIGNATURE_GENERATOR.RAW)")
}

func (p *Plugin) VerifySignature(context.Context, *plugin.VerifySignatureRequest) (*plugin.VerifySignatureResponse, error) {
	return nil, plugin.NewUnsupportedError("notation-trust-agent: verify-signature")
}
