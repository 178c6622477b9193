package tuf

import (
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

// Tests that tell a planted bug from the fix (scripts/mutants.sh;
// SECURITY.md, "Planted bugs"): each case below failed on one mutation that
// the rest of the package's tests let through.

// TestPolicyMutants: policy rules whose loosening no other test noticed.
func TestPolicyMutants(t *testing.T) {
	tests := []struct {
		name   string
		meta   agent.KeyMeta
		req    agent.SignRequest
		denied string
	}{
		// A6: "targets/" alone is not a delegation role.
		{"delegation refuses an empty role name", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/", Data: []byte(targetsJSON())}, "targets/<name>"},
		{"delegation refuses an empty name in a list", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases,targets/", Data: []byte(targetsJSON())}, "targets/<name>"},
		// A14: a root certificate vouches for its repository exactly, not
		// for a repository whose name it starts (or ends) with.
		{"root refuses a certificate for a longer name", agent.KeyMeta{Role: agent.RoleRoot, Name: "root"},
			agent.SignRequest{GUN: gun, Role: "root", Data: []byte(rootJSON(t, gun+"-evil"))}, "root certificate"},
		{"root refuses a certificate for a shorter name", agent.KeyMeta{Role: agent.RoleRoot, Name: "root"},
			agent.SignRequest{GUN: gun + "-evil", Role: "root", Data: []byte(rootJSON(t, gun))}, "root certificate"},
		{"root refuses a certificate for a name in another case", agent.KeyMeta{Role: agent.RoleRoot, Name: "root"},
			agent.SignRequest{GUN: gun, Role: "root", Data: []byte(rootJSON(t, strings.ToUpper(gun)))}, "root certificate"},
		// A1's twin: the key's GUN is matched exactly, not as a prefix.
		{"targets key refuses a repository its name starts", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun},
			agent.SignRequest{GUN: gun + "-evil", Role: "targets", Data: []byte(targetsJSON())}, "bound to repository"},
		{"targets key refuses a sub-repository", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun},
			agent.SignRequest{GUN: gun + "/sub", Role: "targets", Data: []byte(targetsJSON())}, "bound to repository"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := checkPolicy(tc.meta, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.denied) {
				t.Fatalf("checkPolicy = %v, want a refusal containing %q", err, tc.denied)
			}
		})
	}
}
