package socket_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/socket"
)

// The agent side listens and serves; the CLI side dials and uses the
// Client as it would the agent itself.
func Example() {
	var a agent.Agent // the real agent, from agent.New
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	path := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "trust-agent", "agent.sock")
	l, err := socket.Listen(path)
	if err != nil {
		log.Fatal(err)
	}
	go socket.Serve(ctx, l, a, socket.ServeOptions{})

	c, err := socket.Dial(path)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	keys, err := c.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range keys {
		fmt.Println(k.ID, k.Role, k.GUN)
	}
}
