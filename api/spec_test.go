package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestEmbeddedSpecIsOpenAPIYAML: the spec the server validates requests against and serves at
// /docs.json is the one in openapi.yaml, so a change to the file without `go generate ./api`
// fails here rather than going out unseen.
func TestEmbeddedSpecIsOpenAPIYAML(t *testing.T) {
	embedded, err := GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	file, err := openapi3.NewLoader().LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// oapi-codegen embeds operation ids with their first letter upper-cased (createOrder as
	// CreateOrder): compare them as the file writes them.
	for _, item := range embedded.Paths.Map() {
		for _, op := range item.Operations() {
			op.OperationID = strings.ToLower(op.OperationID[:1]) + op.OperationID[1:]
		}
	}
	a, err := json.Marshal(embedded)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("openapi.gen.go embeds a spec that differs from openapi.yaml: run go generate ./api")
	}
}

// TestEveryOperationSaysWhoMayCallIt: an operation without `security` would be public (the auth
// middleware reads each operation's requirements from here), so each must state its own; only
// the probes are public, with `security: []`.
func TestEveryOperationSaysWhoMayCallIt(t *testing.T) {
	spec, err := openapi3.NewLoader().LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	public := map[string]bool{"liveness": true, "readiness": true}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			switch {
			case op.Security == nil:
				t.Errorf("%s %s (%s) declares no security", method, path, op.OperationID)
			case len(*op.Security) == 0 && !public[op.OperationID]:
				t.Errorf("%s %s (%s) is public", method, path, op.OperationID)
			}
		}
	}
}
