# The two commands every user needs: `make run` and `make test`. Both need only Go (and make);
# where Node.js 20.19+ is installed, `make test` also lints the OpenAPI document with Redocly's
# CLI, which npx fetches once from the npm registry (see api/lint.sh).
GO      ?= go
BIN     := bin/ordersys
PKGS    := ./...
REDOCLY := @redocly/cli@2.77.0

.PHONY: run build test vet fmt-check lint-api generate loadgen clean

run: build ## start `ordersys dev`: the whole system in one process on 127.0.0.1:3001
	./$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/ordersys

test: fmt-check vet lint-api ## the whole suite, with the race detector
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# redocly.yaml makes every rule of the recommended set an error, so a warning fails this too;
# .redocly.lint-ignore.yaml lists the few problems left on purpose, each with why.
lint-api: ## lint api/openapi.yaml (skipped, saying so, without Node.js 20.19+)
	REDOCLY=$(REDOCLY) ./api/lint.sh

generate: ## regenerate api/openapi.gen.go after editing api/openapi.yaml
	$(GO) generate ./api

loadgen: build ## load a running `ordersys dev` at 150 orders/s for 30 s
	./$(BIN) loadgen --rate 150 --duration 30s

clean:
	rm -rf bin data
