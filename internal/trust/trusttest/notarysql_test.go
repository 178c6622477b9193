package trusttest

import (
	"net/http"
	"testing"
)

// TestSQLNotaryRestart: a repository the notary CLI published survives
// Restart on PostgreSQL; the same processes on memory storage lose it, so
// Restart really restarts and the SQL test's "nothing is lost" can fail.
func TestSQLNotaryRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  bool
		want int // status of GET root.json after the restart
	}{
		{"postgres", true, http.StatusOK},
		{"memory", false, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startRemoteSignerNotary(t, tc.sql)
			c := NewDockerConfig(t, n.Notary)
			const gun = "example.com/restart/app"
			c.MustNotaryCLI(t, "init", "-p", gun)
			if got := rootStatus(t, n.Notary, gun); got != http.StatusOK {
				t.Fatalf("before the restart: root.json answers %d", got)
			}
			n.Restart(t)
			if got := rootStatus(t, n.Notary, gun); got != tc.want {
				t.Fatalf("after the restart: root.json answers %d, want %d", got, tc.want)
			}
		})
	}
}

func rootStatus(t *testing.T, n *Notary, gun string) int {
	t.Helper()
	resp, err := n.Client().Get(n.URL + "/v2/" + gun + "/_trust/tuf/root.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
