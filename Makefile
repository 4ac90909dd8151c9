# Berth — `make run` starts it, `make test` checks it. Only Go is needed for both.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
ARGS     ?=

.PHONY: all run build wasm test bench vet clean

all: build

## wasm: build the WebAssembly UI into web/app.wasm
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o web/app.wasm ./app

## build: build the UI and the server binary bin/berth
build: wasm
	$(GO) build -trimpath -ldflags='$(LDFLAGS)' -o bin/berth ./server

## run: build and start Berth with the embedded registry and demo content (ARGS="--help" for flags)
run: build
	./bin/berth $(ARGS)

## test: run every test (unit, integration against real registries, headless Chromium e2e)
test: wasm
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

## bench: run the benchmarks; each prints its ratio against a baseline measured in the same run
bench: wasm
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./...

clean:
	rm -rf bin web/app.wasm web/app.wasm.br web/app.wasm.gz
