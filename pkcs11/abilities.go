package pkcs11

import "github.com/trust-agent/trust-agent/agent"

var _ agent.AbilityReporter = (*Store)(nil)

// Abilities: a PKCS#11 token deletes and imports keys and makes ECDSA and
// RSA keys; it cannot attest them, has no touch and no fixed slots.
func (*Store) Abilities() agent.Abilities {
	return agent.Abilities{Delete: true, Import: true, Algorithms: []string{agent.AlgorithmECDSA, agent.AlgorithmRSA}}
}
