// Package api holds the REST contract: openapi.yaml, and the types, strict server interface and
// embedded spec that oapi-codegen generates from it. The generated file is committed because
// building the generator takes minutes; rerun `go generate ./api` after changing the spec.
package api

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml openapi.yaml
