// Command virtualcard runs a virtual YubiKey PIV card plugged into
// vsmartcard's vpcd reader, for yubico-piv-tool, piv-go's test suite and
// manual use (make piv-up). It reconnects when vpcd goes away, and keeps
// its keys in --state across restarts.
//
//	virtualcard [--addr 127.0.0.1:35963] [--state FILE] [--serial N]
//	            [--version 5.7.1] [--ca-out FILE]
//	virtualcard --print-ca
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "virtualcard: error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr    = flag.String("addr", virtualcard.DefaultAddr, "vpcd `address` to connect to")
		state   = flag.String("state", "", "JSON `file` keeping the card's keys across restarts (created 0600)")
		serial  = flag.Uint("serial", 0, "serial `number` (default: from --state, else random)")
		version = flag.String("version", "", "firmware `version` to report (default: from --state, else "+virtualcard.DefaultVersion.String()+")")
		caOut   = flag.String("ca-out", "", "write the fixture attestation CA as PEM to `file`")
		printCA = flag.Bool("print-ca", false, "print the fixture attestation CA as PEM and exit")
	)
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}
	if *printCA {
		pem, err := virtualcard.AttestationCAPEM()
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(pem)
		return err
	}
	var v virtualcard.Version
	if *version != "" {
		var err error
		if v, err = virtualcard.ParseVersion(*version); err != nil {
			return err
		}
	}
	if *serial > 1<<31-1 {
		return fmt.Errorf("--serial %d is out of range", *serial)
	}
	card, err := virtualcard.New(virtualcard.Options{
		Version:   v,
		Serial:    uint32(*serial),
		StatePath: *state,
	})
	if err != nil {
		return err
	}
	if *caOut != "" {
		pem, err := virtualcard.AttestationCAPEM()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*caOut, pem, 0o644); err != nil {
			return err
		}
	}

	// Claim the address so pivtest fixtures pick another reader; vpcd
	// serves one card per port.
	release, err := virtualcard.ClaimAddr(*addr)
	if err != nil {
		return err
	}
	defer release()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "virtualcard: serial %d, firmware %s, vpcd %s\n", card.Serial(), card.Version(), *addr)
	return serve(ctx, card, *addr)
}

// serve keeps the card plugged in: when vpcd drops the connection (pcscd
// restarted) or is not up yet, it retries every ReinsertDelay, which also
// keeps clear of pcscd's reconnect race.
func serve(ctx context.Context, card *virtualcard.Card, addr string) error {
	warned := false
	for {
		link, err := card.Connect(addr)
		if err != nil {
			if !warned {
				fmt.Fprintf(os.Stderr, "virtualcard: %v; retrying\n", err)
				warned = true
			}
		} else {
			warned = false
			select {
			case <-ctx.Done():
				return link.Close()
			case <-link.Done():
				if err := link.Err(); err != nil && !errors.Is(err, context.Canceled) {
					fmt.Fprintf(os.Stderr, "virtualcard: %v\n", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(virtualcard.ReinsertDelay):
		}
	}
}
