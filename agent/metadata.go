package agent

import "time"

// Metadata is what the TUF policy (format/tuf) saw in a payload; the audit
// log records it as "metadata". It lives here, beside Event, because audit
// lines are the agent's: the TUF policy fills it in its Decision.
type Metadata struct {
	Type    string    `json:"type"` // "Root", "Targets", "Snapshot", "Timestamp"
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
	Targets []string  `json:"targets,omitempty"` // target names a Targets role lists
	// Roles are a Root's roles: each role's key IDs and threshold.
	Roles map[string]RoleKeys `json:"roles,omitempty"`
	// Confirmed says a person confirmed this signature through the askpass
	// program (a Root that changes who holds the repository, a key marked
	// to be confirmed for every use).
	Confirmed bool `json:"confirmed,omitempty"`
}

// RoleKeys is one role of a Root: the keys that may sign it and how many
// of them must.
type RoleKeys struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}
