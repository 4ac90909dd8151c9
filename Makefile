# Berth — `make run` starts it, `make test` checks it. Only Go is needed for both.
GO       ?= go
SHELL    := /bin/bash
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
ARGS     ?=
BROTLI   ?= 9
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
# wasm-opt (Debian's binaryen) makes app.wasm 11.0 → 10.0 MB raw, but not smaller compressed
# (2.2 MB brotli either way), and takes minutes: make dist uses it when installed, make wasm
# only when asked (make wasm WASM_OPT=wasm-opt).
WASM_OPT ?=

.PHONY: all run build wasm test bench dist clean

all: build

## wasm: build the WebAssembly UI into web/app.wasm and compress it into web/compressed (embedded by build)
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o web/app.wasm ./app
	if [ -n "$(WASM_OPT)" ]; then \
		$(WASM_OPT) -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
			web/app.wasm -o web/app.wasm.opt && mv web/app.wasm.opt web/app.wasm; \
	fi
	$(GO) run ./web/precompress -quality $(BROTLI) web

## build: build the UI and the server binary bin/berth, with the UI embedded
build: wasm
	$(GO) build -trimpath -ldflags='$(LDFLAGS)' -o bin/berth ./server

## run: build and start Berth with the embedded registry and demo content (ARGS="--help" for flags)
run: build
	./bin/berth $(ARGS)

## test: run every test (unit, integration against real registries, headless Chromium e2e)
# The server package holds most of the tests: its test binary is built once and run as five
# processes beside the other packages' tests — the accessibility tests [a11y], the other
# browser tests in three parts of about the same length [e2e1–3] and the rest [server] —
# since they wait on browsers and registries more than they compute. The target fails when
# any part does, and repeats that part's failures at the end (each part's output:
# bin/test-*.log; the server parts' with -test.v). Each part is name:tests run:tests skipped.
E2E_K := ^TestE2E(Accessibility|KeyboardAndPhone)
SERVER_PARTS := a11y:^TestE2EAccessibility: e2e1:^TestE2E([A-C]|KeyboardAndPhone):^TestE2EAccessibility \
	e2e2:^TestE2E[M-R]:$(E2E_K) e2e3:^TestE2E([D-L]|[S-Z]):$(E2E_K) server::^TestE2E
test: wasm
	$(GO) vet ./...
	$(GO) test -c -o bin/server.test ./server
	set -o pipefail; pids=(); \
	for part in $(foreach p,$(SERVER_PARTS),'$(p)'); do IFS=: read -r name run skip <<< "$$part"; \
		( cd server && ../bin/server.test -test.count=1 -test.timeout=20m -test.v -test.run "$$run" -test.skip "$$skip" 2>&1 \
			| tee $(CURDIR)/bin/test-$$name.log | grep --line-buffered -E '^(--- |FAIL|ok|PASS|panic:)' | sed -u "s/^/[$$name] /" ) & pids+=("$$name:$$!"); \
	done; \
	$(GO) test -count=1 -p 3 -timeout 20m $$($(GO) list ./... | grep -v '/server$$') 2>&1 | tee $(CURDIR)/bin/test-other-packages.log; \
	rest=$${PIPESTATUS[0]}; failed=(); [ $$rest -eq 0 ] || failed+=(other-packages); \
	for p in "$${pids[@]}"; do wait "$${p#*:}" || failed+=("$${p%%:*}"); done; \
	for name in "$${failed[@]}"; do echo "make test: the $$name tests failed:"; \
		if [ $$name = other-packages ]; then grep -E -A8 '^\s*--- FAIL|^FAIL|^panic:' bin/test-$$name.log | head -60; continue; fi; \
		awk '/^=== RUN/ {buf = ""} /_test\.go:[0-9]+:/ {buf = buf $$0 "\n"} /^ *--- FAIL/ {printf "%s%s\n", buf, $$0; buf = ""} \
			/^FAIL/ && !/^FAIL\t/ {print} /^panic:/ {p = 1} p && n < 40 {print; n++}' bin/test-$$name.log | head -80; done; \
	[ $${#failed[@]} -eq 0 ]

## bench: run the benchmarks; each prints its ratio against a baseline measured in the same run
bench: wasm
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./...

## dist: release archives dist/berth_VERSION_OS_ARCH.tar.gz for $(PLATFORMS), and dist/SHA256SUMS
dist:
	$(MAKE) wasm BROTLI=11 WASM_OPT="$$(command -v wasm-opt)"
	rm -rf dist
	for p in $(PLATFORMS); do \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags='$(LDFLAGS)' \
			-o dist/berth_$(VERSION)_$${p%/*}_$${p#*/}/berth ./server || exit 1; \
	done
	$(GO) run ./deploy/release -dist dist

clean:
	rm -rf bin dist web/app.wasm web/compressed/app.wasm.*
