// Package socket carries agent.Agent over a Unix socket: the wire between
// the trust-agent CLI and the agent, in the shape of x/crypto/ssh/agent.
//
// # What
//
// ServeAgent serves one connection with an agent.Agent; Serve accepts
// connections on a listener made by Listen, checks who is calling and runs
// ServeAgent for each. Client (NewClient, Dial) implements agent.Agent over
// a connection, so code above the socket, and one shared test suite, cannot
// tell it from the agent itself. Errors the agent returns come back as
// *RemoteError, which unwraps to the same sentinels and typed errors
// (agent.ErrNotFound, *agent.PINError with its retries, *agent.DeniedError
// with its reason, ...): errors.Is and errors.As answer as they would on the
// agent's side, and the message is the agent's own.
//
// # Wire
//
// docs/PROTOCOL.md is the specification. In short, every message is a frame:
//
//	uint32 big-endian length of what follows | version (2) | type | body
//
// where the body is JSON (or empty), except for sign and sign-payload
// requests, whose body is a bulk body:
//
//	uint32 big-endian JSON length | JSON | the data or payload, raw
//
// so that megabytes of metadata cross the socket without base64 or a JSON
// string: the server hands the bulk bytes to the agent where they lie in
// the frame it read, and Client writes them from the caller's slice with
// one writev. A version-1 frame is refused in version 1 (code 8), so a
// version-1 client prints why; a client refuses a reply of another version.
//
// Requests have types 0x01-0x0C (list, sign, certify-root, generate, import,
// lock, unlock, status, attest, delete, sign-payload, certify-key); a success answers with the request's type | 0x80,
// a failure with 0xFF and {code, message, retries?, reason?}. The length is
// capped at maxFrameBytes (16 MiB) on both sides and checked from the four
// length bytes alone, before anything is read or allocated; the body buffer
// then grows only as bytes arrive. A frame of another version or an unknown
// type is answered with a failure and the connection goes on; a frame that
// cannot be delimited (too large, too short, truncated) is answered if
// possible and the connection closed. Request bodies are checked byte by
// byte against the request's type before they are decoded (checkStrict:
// exact field names, no duplicates, no null, UTF-8, canonical base64,
// nothing after the value, no unknown fields); responses are decoded
// leniently, so a newer agent can add fields.
//
// # Limits
//
// Serve bounds what a local process can make the agent hold (ServeOptions,
// docs/PROTOCOL.md "Limits"): idle connections are closed after
// IdleTimeout (Client dials again by itself), a frame must arrive within
// FrameTimeout of its first byte, at most MaxConns connections are served
// (a new one closes the longest-idle one), and bodies over 64 KiB draw on
// one FrameBudget of bytes (a granted body is read into one buffer of its
// size: the budget counts it, and the agent gets its bulk bytes in place;
// a sign or sign-payload body's buffer comes from a small pool and goes
// back to it once the answer is written, pool.go);
// without a budget a body grows in 1 MiB pieces as it arrives. Refusals
// made before the agent's methods run go to its agent.RefusalRecorder.
//
// # Concurrency
//
// A connection carries one request at a time: ServeAgent reads a request,
// calls the agent and writes the answer before it reads the next one. A
// Client is safe for concurrent use; a mutex holds each request and response
// together, so calls on one Client run one after another (dial more Clients
// for parallel signing). A call whose context ends mid-way returns at once
// and drops the connection, since its answer would arrive out of step. Serve
// runs each connection in its own goroutine; a bad client ends only its own
// connection. Cancelling Serve's context closes the listener, interrupts the
// connections and waits for them.
//
// # Security
//
// The socket is the agent's only door, and anyone who can connect can ask
// for signatures with an unlocked token. Three layers keep other users out:
// Listen refuses a directory, or any directory above it, that group or
// others can write to (they could swap the socket for theirs and collect
// PINs and metadata) unless it is root's and sticky, or that another user
// owns, and creates a missing one 0700; the socket is chmod-ed 0600; and on
// Linux Serve reads each peer's SO_PEERCRED and refuses any UID but the
// agent's own and root, logging the refusal. The other way round, Dial
// reads the server's SO_PEERCRED and refuses an agent of another user
// before a byte is sent (ErrForeignAgent). Listen holds an flock on
// PATH.lock while it listens, so two agents cannot both take a stale
// socket's place, and Close removes only the socket it bound. The peer (UID, GID, PID and,
// best effort, /proc/PID/exe) reaches the agent through agent.WithPeer on
// each request's context for its audit log; the executable path is for
// people reading the log, not for decisions (a PID can be reused). Listen
// replaces a socket only when connecting to it is refused (a dead agent's),
// never a live one. The unlock request's buffers are cleared after use, on
// a best-effort basis: encoding/json keeps copies of its own.
package socket
