# CriSharp: the two commands a newcomer needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
CONFIG ?= Release
ENDPOINT ?= unix:///run/crisharp/crisharp.sock
TEST_REGISTRY ?= 127.0.0.1:5055
# The daemon as shipped: a NativeAOT binary (see src/CriSharp.Daemon/CriSharp.Daemon.csproj).
AOT_DIR := src/CriSharp.Daemon/bin/$(CONFIG)/aot
BIN := $(AOT_DIR)/crisharp
CONFORMANCE := conformance/CriSharp.Conformance/bin/$(CONFIG)/net10.0/cri-conformance
export CRISHARP_BIN := $(CURDIR)/$(BIN)
export CONFIG

.PHONY: all deps build run test unit-test integration-test conformance conformance-reference critest bench-pull bench-lifecycle bench-stats bench-exec clean

all: build

## deps: install every Debian package CriSharp runs or tests with (idempotent)
deps:
	@bash hack/install-deps.sh

## build: compile the solution (warnings are errors), then the daemon as a NativeAOT binary; needs no root
## (installing packages is `make deps`, which every target that runs something depends on)
build:
	dotnet build CriSharp.sln -c $(CONFIG) --nologo -v quiet -clp:NoSummary
	@$(MAKE) --no-print-directory $(BIN)

# The ahead-of-time compile takes about a minute: only when a daemon source changed.
DAEMON_INPUTS := $(shell find src protos -type f -not -path '*/bin/*' -not -path '*/obj/*') Directory.Build.props Directory.Packages.props
$(BIN): $(DAEMON_INPUTS)
	dotnet publish src/CriSharp.Daemon/CriSharp.Daemon.csproj -c $(CONFIG) -r linux-x64 -o $(AOT_DIR) --nologo -v quiet -clp:NoSummary
	@touch $@

## run: install what is missing, write a default config if none, serve on /run/crisharp/crisharp.sock
run: deps build
	@bash hack/run.sh $(BIN)

## test: unit + integration + conformance against a fresh crisharp + the containerd reference run
test: deps build
	@bash hack/test.sh

unit-test: deps build
	@bash hack/test.sh unit

integration-test: deps build
	@bash hack/test.sh integration

## conformance: run the CRI conformance suite against ENDPOINT (any CRI runtime); image cases pull
## from TEST_REGISTRY (start it first: hack/test-registry.sh start 5055)
conformance: deps build
	$(CONFORMANCE) --endpoint $(ENDPOINT) --test-registry $(TEST_REGISTRY)

## conformance-reference: the same suite against Debian's containerd 1.6 on its own socket
conformance-reference: deps build
	@bash hack/test.sh reference

## bench-pull: 5 cold pulls of the large test image, crisharp vs containerd (median time, peak RSS)
bench-pull: deps build
	@bash hack/bench-pull.sh

## bench-lifecycle: pod cycles (20 sequential, 20 concurrent; median/p95 per phase), host-network and on
## a CNI bridge network, and daemon RSS idle / with 50 pods, crisharp vs containerd, same runc
bench-lifecycle: deps build
	@bash hack/bench-lifecycle.sh

## bench-stats: ListContainerStats / ListPodSandboxStats with 100 running containers (median/p95),
## crisharp vs containerd
bench-stats: deps build
	@bash hack/bench-stats.sh

## bench-exec: 200 sequential ExecSync `true` in a running container (median/p95), crisharp vs containerd
bench-exec: deps build
	@bash hack/bench-exec.sh

## critest: run a critest binary you supply (cri-tools 1.36.0) offline in mirror mode and compare with
## conformance/critest-expected.txt: make critest CRITEST=/path/to/critest [ENDPOINT=unix:///...]
## (without ENDPOINT: a private crisharp with the mirrors; with it, that runtime must mirror the registries)
critest: deps build
	@bash hack/critest.sh "$(CRITEST)" $(if $(filter command line,$(origin ENDPOINT)),"$(ENDPOINT)")

clean:
	dotnet clean CriSharp.sln -c $(CONFIG) --nologo -v quiet
