package api

import _ "embed"

// AsyncAPI is the event contract, asyncapi.yaml: the Kafka topics, the CloudEvents headers and
// payload schema of every message, and which service sends and receives each. The server serves it
// at /docs/asyncapi.yaml.
//
//go:embed asyncapi.yaml
var AsyncAPI []byte
