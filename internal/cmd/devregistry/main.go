// Command devregistry serves go-containerregistry's in-memory OCI registry
// on a loopback address for `make demo`, after pushing a small random image
// to it. It prints "HOST:PORT/REPO:TAG sha256:DIGEST" once ready.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	push := flag.String("push", "demo/app:v1", "REPO:TAG to push a random image to")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("devregistry: %v", err)
	}
	go func() {
		log.Fatal(http.Serve(l, registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	}()
	ref, err := name.NewTag(l.Addr().String()+"/"+*push, name.Insecure)
	if err != nil {
		log.Fatalf("devregistry: %v", err)
	}
	img, err := random.Image(1024, 2)
	if err != nil {
		log.Fatalf("devregistry: %v", err)
	}
	if err := remote.Write(ref, img); err != nil {
		log.Fatalf("devregistry: pushing %s: %v", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		log.Fatalf("devregistry: %v", err)
	}
	fmt.Fprintf(os.Stdout, "%s %s\n", ref, digest)
	select {}
}
