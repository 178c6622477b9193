package tuf

import "github.com/trust-agent/trust-agent/agent"

// ReadPayload exposes to package tuf_test (the differential fuzz test)
// what the policy reads from a payload: the metadata, and for a Root its
// roles, or why it refuses the payload.
func ReadPayload(data []byte) (agent.Metadata, error) {
	md, doc, err := parseMetadata(data)
	if err != nil {
		return md, err
	}
	if md.Type == "Root" {
		root, err := parseRoot(doc)
		if err != nil {
			return md, err
		}
		md.Roles = root.roles
	}
	return md, nil
}
