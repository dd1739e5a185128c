// Package docs carries the documents the binaries serve. api.yaml, the
// OpenAPI 3 document of the cloud's HTTP API, is its one source: the cloud
// serves it at /api/openapi.json and /api/openapi.yaml (cloud/api), and the
// TypeScript client under cloud/clients is generated from it. It stays here,
// beside the documents that link to it, because go:embed reaches only files
// below the embedding package.
package docs

import _ "embed"

// OpenAPI is api.yaml as it was at build time.
//
//go:embed api.yaml
var OpenAPI []byte
