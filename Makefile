# tagnet: the two commands a fresh machine needs are `make demo` and
# `make test` (see README.md). Both install what is missing first and are
# safe to run again.

GO      ?= go
BIN     := bin
OUT     := out/demo
export CGO_ENABLED := 1

# staticcheck, pinned: a version the Go module proxy serves.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: setup build demo test vet staticcheck fmt-check bench clean

setup:
	@scripts/setup.sh

build: setup
	$(GO) build -o $(BIN)/ ./cmd/...

## demo: the main job on built-in demo data.
demo: build
	@scripts/demo.sh $(OUT)

## test: every check CI runs.
test: setup fmt-check vet staticcheck
	$(GO) test -count=1 -timeout 15m ./...

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: the benchmark suites (see README "Benchmarks").
bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 3x -count 5 -timeout 2h ./benchmarks/ ./trainer/nn/ | tee bench.txt

clean:
	rm -rf $(BIN) out
