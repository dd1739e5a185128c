# clawfleet — see README.md. Every target works on a fresh Debian machine with Go.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/clawfleet/clawfleet/cloud/app.Version=$(VERSION) -X github.com/clawfleet/clawfleet/agent/version.Version=$(VERSION)
BUILD     := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
# A count, not a duration: go1.26's fuzz coordinator can report its own -fuzztime deadline
# as a failure ("context deadline exceeded", golang/go#75804, fixed only in go1.27).
FUZZTIME  ?= 300000x

.PHONY: all build cross run check test fuzz vet bench-fleet bench-tenants bench-console openclaw openapi-client screenshots clean

all: build

build:
	$(BUILD) -o bin/clawfleet-cloud ./cloud/cmd/clawfleet-cloud
	$(BUILD) -o bin/clawfleet-agent ./agent/cmd/clawfleet-agent
	$(BUILD) -o bin/clawfleet-provision ./provisioning/cmd/clawfleet-provision

# The agent for worker VMs and boxes (the cloud serves dist/ to install.sh: docs/workers.md).
cross:
	GOOS=linux GOARCH=amd64 $(BUILD) -o dist/clawfleet-agent-linux-amd64 ./agent/cmd/clawfleet-agent
	GOOS=linux GOARCH=arm64 $(BUILD) -o dist/clawfleet-agent-linux-arm64 ./agent/cmd/clawfleet-agent
	GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o dist/clawfleet-agent-linux-armv7 ./agent/cmd/clawfleet-agent

# The agent's Debian packages (dist/clawfleet-agent_<version>_<arch>.deb) with nfpm, pinned in
# firmware/deb/build.sh (run by `go run`, cached like any module); docs/workers.md.
.PHONY: deb
deb: cross
	sh firmware/deb/build.sh $(VERSION) dist amd64 arm64 armv7

# An OpenClaw box's root filesystem, dist/clawfleet-box-$(ARCH).tar (ARCH amd64 or arm64): Debian
# from mmdebstrap, the agent, Node + OpenClaw, the units; cached (docs/box.md).
ARCH ?= amd64
.PHONY: box-image
box-image: cross
	bash firmware/image/build.sh $(ARCH) dist

# Node 26 + OpenClaw for the local agent's process runtime (npm, cached).
OPENCLAW_CACHE ?= $(if $(filter 0,$(shell id -u)),/var/cache/clawfleet,$(HOME)/.cache/clawfleet)
OPENCLAW_BIN   := $(OPENCLAW_CACHE)/bin/openclaw

openclaw:
	bash firmware/openclaw/install.sh $(OPENCLAW_CACHE)

# The TypeScript client's types, generated from docs/api.yaml (after changing it; a test
# fails while they differ). The npm packages are cached by cloud/clients/install.sh.
openapi-client:
	cd "$$(bash cloud/clients/install.sh)" && SPEC=$(CURDIR)/docs/api.yaml OUT=$(CURDIR)/cloud/clients/typescript/schema.d.ts npm run --silent generate

# Screenshots of every console page in en and zh-CN (real Chromium against an in-process cloud)
# into docs/screenshots/; the test also logs each page's load time.
screenshots:
	mkdir -p docs/screenshots
	CLAWFLEET_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -v -run '^TestConsoleScreenshots$$' ./cloud/api/

# Zero-config local run: cloud (SQLite in ./data, embedded broker, HTTP :8080) plus one local
# agent that runs tenant gateways as native processes with the real OpenClaw.
run: build openclaw
	CLAWFLEET_RUNTIME=process CLAWFLEET_OPENCLAW_BIN=$(OPENCLAW_BIN) ./bin/clawfleet-cloud --local-agent bin/clawfleet-agent

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The inner loop, a few minutes: vet, gofmt and every test but the integration suite (which
# starts real processes; make test runs it), with the race detector (needs gcc).
check: vet
	CGO_ENABLED=1 $(GO) test -race -short -count=1 -timeout 10m $$($(GO) list ./... | grep -v '/cloud/integration$$')

# Every test: unit, store suite (SQLite, and PostgreSQL when CLAWFLEET_TEST_POSTGRES_DSN is set),
# integration (real cloud and agent processes), and short fuzz runs of the protocol decoders.
test: vet build cross
	$(GO) test -count=1 -timeout 20m ./...
	@# The mochi fork's own tests (its packages that the fork changed); one upstream test reads a
	@# client's state racily, on upstream too (third_party/mochi-mqtt-server/README.md).
	cd third_party/mochi-mqtt-server && $(GO) test -count=1 -skip '^TestServerProcessPublishACLCheckDeny$$' . ./packets ./listeners
	$(MAKE) fuzz

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRegister$$' -fuzztime $(FUZZTIME) ./pkg/proto
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeHeartbeat$$' -fuzztime $(FUZZTIME) ./pkg/proto
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeStatusConfig$$' -fuzztime $(FUZZTIME) ./pkg/proto
	$(GO) test -run '^$$' -fuzz '^FuzzParseTopic$$' -fuzztime $(FUZZTIME) ./pkg/proto
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeTenantMessages$$' -fuzztime $(FUZZTIME) ./pkg/proto
	$(GO) test -run '^$$' -fuzz '^FuzzReturnTo$$' -fuzztime $(FUZZTIME) ./cloud/login

# Load generator: N simulated agents against a real cloud process (see docs/benchmarks.md).
bench-fleet: build
	CGO_ENABLED=0 $(GO) build -o bin/clawfleet-loadgen ./cloud/bench/loadgen
	./bin/clawfleet-loadgen $(BENCHFLAGS)

# Time from POST /api/tenants to running (see docs/benchmarks.md), e.g.
#   make bench-tenants BENCHFLAGS="-tenants 20 -runtime docker"
#   make bench-tenants BENCHFLAGS="-tenants 3 -cpu 1000 -openclaw-bin $(OPENCLAW_BIN)"
bench-tenants: build
	CGO_ENABLED=0 $(GO) build -o bin/standin ./agent/runtime/runtimetest/standin
	CGO_ENABLED=0 $(GO) build -o bin/clawfleet-tenantbench ./cloud/bench/tenantbench
	./bin/clawfleet-tenantbench $(BENCHFLAGS)

# wrk straight to a gateway vs through nginx vs through the built-in router over the tunnel,
# and a large download (see docs/benchmarks.md), e.g.
#   make bench-router BENCHFLAGS="-c 32 -t 2 -d 10s -rounds 3"
.PHONY: bench-router
bench-router: build
	CGO_ENABLED=0 $(GO) build -o bin/standin ./agent/runtime/runtimetest/standin
	CGO_ENABLED=0 $(GO) build -o bin/clawfleet-routerbench ./cloud/bench/routerbench
	./bin/clawfleet-routerbench $(BENCHFLAGS)

# The console's load time in Chromium for a signed-in user (docs/benchmarks.md).
bench-console:
	$(GO) test ./cloud/api -run '^$$' -bench BenchmarkConsoleLoad -benchtime 30x

clean:
	rm -rf bin dist
