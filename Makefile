# trust-agent: `make demo` runs the main job, `make test` the tests.
# Everything the tests need is installed by `make deps` (apt-get, as root).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export GOFLAGS := -buildvcs=false

BIN := bin/trust-agent
# Debian packages the tests, the demo and the PIV fixture use.
DEB_PACKAGES := softhsm2 opensc notary libpcsclite-dev pcscd vsmartcard-vpcd yubico-piv-tool pkg-config gcc iproute2 util-linux openssl curl jq groff-base systemd openssh-client openssh-server p11-kit p11-kit-modules postgresql postgresql-client

.PHONY: test-cosign all deps build test test-go test-piv conformance demo demo-piv demo-fleet bench fuzz piv-up piv-down clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get install$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v docker >/dev/null || echo "make deps: note: the docker CLI is not installed; docker interop tests skip outside CI"

# The plugins need no cgo (they only talk to the agent's socket): built
# static, each start skips the dynamic loader, about 5 ms of CPU here
# (docs/PERFORMANCE.md, P7). trust-agent itself needs cgo for PKCS#11.
build:
	go build -ldflags "-X main.version=$$(git describe --tags --always --dirty 2>/dev/null || echo devel)" -o $(BIN) ./cmd/trust-agent
	CGO_ENABLED=0 go build -o bin/sigstore-kms-trustagent ./cmd/sigstore-kms-trustagent
	CGO_ENABLED=0 go build -o $(dir $(BIN))notation-trust-agent ./cmd/notation-trust-agent

# The Go tests (SoftHSM, socket, CLI scripts, notary-server, registry,
# docker and notary CLIs, PIV through pcscd and the virtual card, fuzz
# seeds), then the virtual card judged by piv-go's own suite and
# yubico-piv-tool. The Go tests run inside piv/scripts/with-pcscd.sh (a
# private pcscd in its own mount and network namespace), so everything is
# compiled and downloaded first, outside it. Top-level results are printed;
# the whole log is in .tmp/test.log.
test: deps test-go conformance

test-go: deps
	@mkdir -p .tmp
	go vet ./...
	go test -race -count=1 -run '^$$' ./... >/dev/null
	cd cmd/notation-trust-agent/testdata/notation-cli && GOFLAGS=-mod=mod go build -o /dev/null github.com/notaryproject/notation/cmd/notation
	GOPROXY=off piv/scripts/with-pcscd.sh go test -race -count=1 -v ./... 2>&1 | tee .tmp/test.log \
	  | grep -E '^(--- |ok |FAIL|PASS$$|panic:)' || { tail -50 .tmp/test.log; exit 1; }

# The cosign CLI end to end (builds cosign v2.6.5 once into .tmp: about ten
# minutes; not part of make test).
test-cosign: deps build
	CGO_ENABLED=0 go build -o bin/sigstore-kms-trustagent ./cmd/sigstore-kms-trustagent
	./scripts/cosign-e2e.sh

# The PIV tests alone: the backend and the fixture through pcscd, then conformance.
test-piv: deps
	go test -race -count=1 -run '^$$' ./piv/... ./internal/trust ./cmd/trust-agent >/dev/null
	GOPROXY=off piv/scripts/with-pcscd.sh sh -c 'go test -race -count=1 ./piv/... && go test -race -count=1 -run PIV ./internal/trust ./cmd/trust-agent' 
	piv/scripts/conformance.sh

conformance: deps
	piv/scripts/conformance.sh

demo: deps build
	./scripts/demo.sh

# A small fleet on one machine (docs/FLEET.md): notary-server and
# notary-signer on PostgreSQL, a token served by p11-kit, two CI runners
# with their own agents; the Notary is restarted and nothing is lost.
demo-fleet: deps build
	./scripts/demo-fleet.sh

# The demo with the root key on the project's virtual YubiKey, through a
# private pcscd (build first: the namespace has no network).
demo-piv: deps build
	go build -o /dev/null ./internal/cmd/devregistry ./piv/virtualcard/cmd/virtualcard
	GOPROXY=off TRUST_AGENT_DEMO_PIV=1 piv/scripts/with-pcscd.sh --card ./scripts/demo.sh

# The benchmarks: first the micro-benchmarks of every package, then the
# measures P1-P7 (internal/bench: each times both sides of its ratio itself,
# so it runs once), then the table, written to docs/PERFORMANCE.md. The last
# seven lines are for scripts: "P1 0.93" ... "P7 n/a (...)". The whole log
# is in .tmp/bench.txt.
bench: deps
	@mkdir -p .tmp
	go test -run '^$$' -bench . -benchtime 2s $$(go list ./... | grep -v '/internal/bench$$') | tee .tmp/bench.txt
	go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/bench | tee -a .tmp/bench.txt
	go run ./internal/benchratio -doc docs/PERFORMANCE.md < .tmp/bench.txt

# Each fuzz target for FUZZTIME (make fuzz FUZZTIME=10m), one after the
# other; their seed corpora (testdata/fuzz/FuzzX) also run in every go test.
FUZZTIME ?= 2m
FUZZ_TARGETS := FuzzReadFrame:./socket FuzzDecodeRequest:./socket FuzzCanonicalPolicy:./format/tuf \
	FuzzParseURI:./internal/uri FuzzParseRef:./internal/trust FuzzParseKeyFile:./internal/trust \
	FuzzVerifyAudit:./agent FuzzParse:./format/cosign FuzzCheck:./format/notation \
	FuzzParse:./internal/imageref FuzzParseNormalizedNamed:./internal/imageref

fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  name=$${t%%:*}; pkg=$${t#*:}; \
	  go test -list "^$$name\$$" $$pkg | grep -x "$$name" >/dev/null || { echo "make fuzz: $$pkg has no $$name"; exit 1; }; \
	  echo "make fuzz: $$name in $$pkg for $(FUZZTIME)"; \
	  go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

piv-up: deps
	piv/scripts/piv-up.sh

piv-down:
	piv/scripts/piv-down.sh

clean:
	rm -rf bin .tmp .demo .demo-fleet
