package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/theupdateframework/notary/tuf/utils"
)

// The witness script's commands: a signer's public key made from a private
// key file (a key that is not on the agent), and key IDs in variables.
func init() {
	scriptCmds["pubkey"] = cmdPubkey
	scriptCmds["keyid"] = cmdKeyID
}

// cmdPubkey writes the public key of an unencrypted PKCS#8 PEM (as mkkey
// writes it) as a PUBLIC KEY PEM, as docker's key files are: pubkey PRIV PUB.
func cmdPubkey(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: pubkey PRIVATE.pem PUBLIC.pub")
	}
	block, _ := pem.Decode([]byte(ts.ReadFile(args[0])))
	if block == nil {
		ts.Fatalf("%s: no PEM", args[0])
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	ts.Check(err)
	der, err := x509.MarshalPKIXPublicKey(priv.(crypto.Signer).Public())
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644))
}

// cmdKeyID sets VAR to the canonical key ID of a public key file, as
// notary and docker name it: keyid PUB VAR.
func cmdKeyID(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: keyid PUBLIC.pub VAR")
	}
	k, err := utils.ParsePEMPublicKey([]byte(ts.ReadFile(args[0])))
	ts.Check(err)
	id, err := utils.CanonicalKeyID(k)
	ts.Check(err)
	ts.Setenv(args[1], id)
}
