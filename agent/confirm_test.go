package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// confirmKeyring is an agent over a software store holding one delegation
// key marked Confirm, asking through the shell script body.
func confirmKeyring(t *testing.T, body string, timeout time.Duration) (*Keyring, KeyInfo, string) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "askpass")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nD='"+dir+"'\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	k := New(Options{Stores: []KeyStore{&softStore{name: "soft", in: true}}, Askpass: script, AskpassTimeout: timeout})
	t.Cleanup(func() { k.Close() })
	info, err := k.Generate(context.Background(), GenerateRequest{KeyMeta: KeyMeta{Role: RoleDelegation, Name: "careful", Confirm: true}})
	if err != nil {
		t.Fatal(err)
	}
	return k, info, dir
}

func signTargets(k *Keyring, id string) error {
	_, err := k.Sign(context.Background(), SignRequest{KeyID: id, GUN: "example.com/app", Role: "targets/releases",
		Data: []byte(`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{},"version":1}`)})
	return err
}

// TestAskpassUnansweredIsNo: a dialog nobody answers is a refusal once
// the timeout passes, and the agent is not held by it.
func TestAskpassUnansweredIsNo(t *testing.T) {
	k, info, _ := confirmKeyring(t, "exec sleep 600\n", 100*time.Millisecond)
	err := signTargets(k, info.ID)
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "nobody confirmed within") {
		t.Fatalf("err = %v, want a refusal for no answer", err)
	}
}

// TestAskpassOneQuestionAtATime: concurrent requests that need a person
// ask one after another, never two dialogs at once.
func TestAskpassOneQuestionAtATime(t *testing.T) {
	body := `mkdir "$D/open" 2>/dev/null || echo overlap >> "$D/overlaps"
sleep 0.05
rmdir "$D/open"
echo asked >> "$D/asked"
exit 0
`
	k, info, dir := confirmKeyring(t, body, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- signTargets(k, info.ID) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "overlaps")); err == nil {
		t.Fatalf("two questions were open at once:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "asked")); strings.Count(string(b), "asked") != 6 {
		t.Fatalf("asked %q, want 6 questions", b)
	}
}

// TestAskpassAskedAsConfirm: the program is run as ssh-agent runs
// SSH_ASKPASS for a key added with ssh-add -c: the question as argv[1] and
// SSH_ASKPASS_PROMPT=confirm, so an ssh-askpass shows yes/no, not a
// passphrase field (A32).
func TestAskpassAskedAsConfirm(t *testing.T) {
	k, info, dir := confirmKeyring(t, `printf '%s' "$SSH_ASKPASS_PROMPT" > "$D/prompt"
printf '%s' "$1" > "$D/question"
exit 0
`, 0)
	if err := signTargets(k, info.ID); err != nil {
		t.Fatal(err)
	}
	prompt, _ := os.ReadFile(filepath.Join(dir, "prompt"))
	question, _ := os.ReadFile(filepath.Join(dir, "question"))
	if string(prompt) != "confirm" || !strings.HasPrefix(string(question), "Sign Targets metadata version 1 for example.com/app") {
		t.Fatalf("askpass ran with SSH_ASKPASS_PROMPT=%q and question %q", prompt, question)
	}
}

// TestAskpassMissing: a program that cannot run is a refusal naming it.
func TestAskpassMissing(t *testing.T) {
	k := New(Options{Stores: []KeyStore{&softStore{name: "soft", in: true}}, Askpass: "/nonexistent/askpass"})
	defer k.Close()
	info, err := k.Generate(context.Background(), GenerateRequest{KeyMeta: KeyMeta{Role: RoleDelegation, Name: "careful", Confirm: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := signTargets(k, info.ID); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "could not ask") {
		t.Fatalf("err = %v", err)
	}
}

// TestLabelConfirmMark: the mark survives the label, old labels still
// parse, and an unknown mark is not read as no mark.
func TestLabelConfirmMark(t *testing.T) {
	m := KeyMeta{Role: RoleTargets, Name: "repo", GUN: "127.0.0.1:5000/team/app", Confirm: true}
	if m.Label() != "dct:targets,confirm:repo:127.0.0.1:5000/team/app" {
		t.Fatalf("label %q", m.Label())
	}
	if got, err := ParseLabel(m.Label()); err != nil || got != m {
		t.Fatalf("ParseLabel = %+v, %v", got, err)
	}
	if got, err := ParseLabel("dct:root:root:"); err != nil || got.Confirm || got.Role != RoleRoot {
		t.Fatalf("old label: %+v, %v", got, err)
	}
	for _, bad := range []string{"dct:root,confirm,confirm:root:", "dct:root,other:root:", "dct:,confirm:root:"} {
		if _, err := ParseLabel(bad); err == nil {
			t.Errorf("ParseLabel(%q) accepted", bad)
		}
	}
}
