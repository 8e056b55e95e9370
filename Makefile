# fatbox — the two commands are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
export PATH := $(PATH):/usr/local/go/bin

GO      ?= go
BIN     := bin/fatbox
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build run stop test test-unit setup setup-test vet supervisord vmshim

build: supervisord vmshim
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./tools/fatbox

# ochinchina/supervisord v0.7.3 as a static binary, from its own pinned module.
supervisord:
	cd tools/supervisord && CGO_ENABLED=0 GOFLAGS=-mod=mod $(GO) build -ldflags "-s -w" -o ../../bin/supervisord github.com/ochinchina/supervisord

# The in-container systemctl/service/reboot shim, static so it runs in any
# distro's rootfs; the daemon finds it next to the supervisord binary.
vmshim:
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -o bin/vmshim ./tools/vmshim

setup:
	tools/setup-host.sh

setup-test:
	tools/setup-host.sh --test

# Sets this host up, builds, and starts the daemon in the background with the
# embedded store and the built-in defaults. `make stop` stops it.
run: setup build
	tools/run.sh start

stop:
	tools/run.sh stop

vet:
	$(GO) vet ./...

# Every tier: pure unit tests, root tests in throwaway namespaces, end-to-end
# tests of the real binary against Consul, the CMDB sync's against MariaDB.
# A missing prerequisite fails (FATBOX_STRICT=1); a skipped test fails the run.
# -p 4: the end-to-end packages mostly wait (on runc, sshd, MariaDB, Consul),
# so more of them run at once than this host has CPUs.
test: setup-test vet supervisord vmshim
	FATBOX_STRICT=1 FATBOX_SUPERVISORD=$(CURDIR)/bin/supervisord $(GO) test -p 4 -count=1 -json -timeout 60m ./... | $(GO) run ./tools/testreport

# Tier 1 only: no root, no services; missing prerequisites skip.
test-unit:
	$(GO) test -count=1 -short ./...
