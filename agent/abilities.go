package agent

import "slices"

// Abilities are what a backend can do beyond the KeyStore interface, as
// data: the CLI and the conformance suite (agenttest) decide from them,
// never from a backend's name ("piv:…") or kind. They travel in
// BackendStatus and in every KeyInfo (the abilities of the key's backend).
type Abilities struct {
	// Attest: keys generated there can be attested (Agent.Attest).
	Attest bool `json:"attest,omitempty"`
	// Touch: an operation may wait for a touch of the device, so a client
	// with a terminal should tell the user when one is slow.
	Touch bool `json:"touch,omitempty"`
	// Delete: keys can be removed (Agent.Delete).
	Delete bool `json:"delete,omitempty"`
	// Import: software keys can be imported (Agent.Import, key load).
	Import bool `json:"import,omitempty"`
	// Policy: PIN and touch policies are chosen when a key is made
	// (GenerateRequest.Policy).
	Policy bool `json:"policy,omitempty"`
	// Algorithms the backend makes keys with (AlgorithmECDSA,
	// AlgorithmRSA).
	Algorithms []string `json:"algorithms,omitempty"`
	// SlotKinds names the fixed slots of a device whose keys live in
	// slots, one key each (a PIV card: "root" is slot 9c, "other" the
	// retired slots 82-95, 9a and 9d); empty for a token that holds any
	// number of objects.
	SlotKinds []string `json:"slot_kinds,omitempty"`
	// MaxRootKeys is how many root keys the backend can hold; 0 means no
	// limit (a PIV card holds one, in slot 9c).
	MaxRootKeys int `json:"max_root_keys,omitempty"`
}

// Algorithm reports whether a backend with these abilities makes keys of
// algorithm alg.
func (a Abilities) Algorithm(alg string) bool { return slices.Contains(a.Algorithms, alg) }

// AbilityReporter is a KeyStore that says what it can do. A KeyStore that
// does not implement it is described from the interfaces it implements
// (Attester, Deleter, PolicyGenerator) and assumed to import keys and make
// ECDSA keys only.
type AbilityReporter interface {
	Abilities() Abilities
}

// abilitiesOf is s's Abilities, as reported or as derived.
func abilitiesOf(s KeyStore) Abilities {
	if r, ok := s.(AbilityReporter); ok {
		a := r.Abilities()
		a.Algorithms = slices.Clone(a.Algorithms)
		a.SlotKinds = slices.Clone(a.SlotKinds)
		return a
	}
	_, attest := s.(Attester)
	_, del := s.(Deleter)
	_, pol := s.(PolicyGenerator)
	return Abilities{Attest: attest, Delete: del, Policy: pol, Import: true, Algorithms: []string{AlgorithmECDSA}}
}
