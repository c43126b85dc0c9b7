# The two commands every user needs: `make run` and `make test`. Both need only Go (and make).
GO      ?= go
BIN     := bin/ordersys
PKGS    := ./...

.PHONY: run build test vet fmt-check generate loadgen clean

run: build ## start `ordersys dev`: the whole system in one process on 127.0.0.1:3001
	./$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/ordersys

test: fmt-check vet ## the whole suite, with the race detector
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

generate: ## regenerate api/openapi.gen.go after editing api/openapi.yaml
	$(GO) generate ./api

loadgen: build ## load a running `ordersys dev` at 150 orders/s for 30 s
	./$(BIN) loadgen --rate 150 --duration 30s

clean:
	rm -rf bin data
