package socket

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// TestThrottledPINAcrossTheWire: a PIN refused by the agent's throttle
// reaches the client as the same *agent.ThrottledError (when the next try
// is accepted, the tries left), still a PIN-incorrect code for clients that
// know only the codes, so the CLI's hint can say when to try again.
func TestThrottledPINAcrossTheWire(t *testing.T) {
	at := time.Date(2026, 12, 2, 2, 31, 7, 0, time.UTC)
	for _, tt := range []struct {
		err  error
		code Code
	}{
		{&agent.ThrottledError{RetryAt: at, Wait: 4 * time.Second, Retries: -1}, CodePINIncorrect},
		{fmt.Errorf("unlocking: %w", &agent.ThrottledError{RetryAt: at, Wait: 4 * time.Second, Retries: 2}), CodePINIncorrect},
		{&agent.ThrottledError{RetryAt: at, Retries: 0}, CodePINBlocked},
	} {
		b, err := json.Marshal(encodeError(tt.err))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"retries":-1`) || strings.Contains(encodeError(tt.err).Message, "-1") {
			t.Errorf("failure body %s says -1", b)
		}
		var fb failureBody
		if err := json.Unmarshal(b, &fb); err != nil {
			t.Fatal(err)
		}
		got := decodeError(fb)
		var want, te *agent.ThrottledError
		errors.As(tt.err, &want)
		if got.Code != tt.code || !errors.As(got, &te) || !te.RetryAt.Equal(want.RetryAt) || te.Retries != want.Retries {
			t.Errorf("%v: got code %v, %#v; want code %v and the ThrottledError %+v", tt.err, got.Code, got.err, tt.code, want)
			continue
		}
		if got.Error() != tt.err.Error() || !errors.Is(got, agent.ErrPINIncorrect) || errors.Is(got, agent.ErrPINBlocked) != (want.Retries == 0) {
			t.Errorf("%v: message %q, errors.Is wrong", tt.err, got)
		}
	}
}
