package main

import "context"

// The administrative Notary commands: signer remove, revoke, key rotate.

func cmdSignerRemove(ctx context.Context, e *env, args []string) error { return errNotYet }
func cmdRevoke(ctx context.Context, e *env, args []string) error       { return errNotYet }
func cmdKeyRotate(ctx context.Context, e *env, args []string) error    { return errNotYet }
