// Command notation-trust-agent is a Notation plugin (contract 1.0) that
// signs with keys held by trust-agent.
//
// notation runs it as $XDG_CONFIG_HOME/notation/plugins/trust-agent/
// notation-trust-agent (`trust-agent notation install` puts it there) for
// `notation sign --plugin trust-agent --id KEY`. It has the capability
// SIGNATURE_GENERATOR.RAW: describe-key reports the key's spec, and
// generate-signature sends the bytes notation signs (a JWS signing input
// or a COSE Sig_structure) to the agent, which checks them against the
// notation payload policy (package format/notation), hashes, signs with
// the hardware key and writes the audit line. The plugin returns the
// signature with the certificate chain stored beside the key
// (`trust-agent key certify KEY`).
//
// KEY is a key's name or its ID (a unique prefix of it will do). The
// agent is found through pluginConfig "socket" (`notation sign
// --plugin-config socket=PATH`) or else TRUST_AGENT_SOCK. Errors are
// {"errorCode","errorMessage"} on stderr with exit status 1.
package main

import "github.com/trust-agent/trust-agent/internal/notationplugin"

func main() { notationplugin.Main() }
