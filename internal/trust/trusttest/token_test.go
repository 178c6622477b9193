package trusttest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// TestTokenAuth: the real notary-server challenges with the token service
// as realm, and accepts its tokens for the scope asked for, and only those.
func TestTokenAuth(t *testing.T) {
	const user, password = "ci", "hunter2"
	n := trusttest.StartNotaryWithTokenAuth(t, user, password)
	c := n.Client()
	const gun = "127.0.0.1:5000/team/app"
	meta := n.URL + "/v2/" + gun + "/_trust/tuf/root.json"

	get := func(u, bearer string, basic ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if len(basic) == 2 {
			req.SetBasicAuth(basic[0], basic[1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	token := func(scope string, basic ...string) (string, int) {
		t.Helper()
		q := url.Values{"service": {trusttest.TokenService}, "scope": {scope}}
		resp := get(n.Token.URL+"?"+q.Encode(), "", basic...)
		var body struct{ Token string }
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
		}
		return body.Token, resp.StatusCode
	}

	resp := get(meta, "")
	challenge := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(challenge, `realm="`+n.Token.URL+`"`) || !strings.Contains(challenge, `service="`+trusttest.TokenService+`"`) {
		t.Fatalf("no credentials: %s, challenge %q", resp.Status, challenge)
	}
	if _, code := token("repository:"+gun+":pull", user, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: token service answered %d", code)
	}
	anon, code := token("repository:" + gun + ":pull")
	if code != http.StatusOK {
		t.Fatalf("anonymous: token service answered %d", code)
	}
	if resp := get(meta, anon); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous token: %s", resp.Status)
	}
	other, _ := token("repository:127.0.0.1:5000/team/other:pull", user, password)
	if resp := get(meta, other); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token for another repository: %s", resp.Status)
	}
	good, _ := token("repository:"+gun+":pull", user, password)
	// Authorised: the repository is empty, so notary's own 404.
	if resp := get(meta, good); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("valid token: %s\n%s", resp.Status, n.Log())
	}
	reqs := n.Token.Requests()
	if len(reqs) != 4 || reqs[3].User != user || !reqs[3].Valid || len(reqs[3].Granted) != 1 || reqs[3].Granted[0].Name != gun {
		t.Fatalf("token requests: %+v", reqs)
	}
}
