package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/clawfleet/clawfleet/docs"
	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
)

// The OpenAPI document (docs/api.yaml, embedded at build time), served as
// it is and as JSON; both converted and hashed once, when the program
// starts. openapi_test.go checks it against the route tree.
var openAPIYAML, openAPIJSON = newSpec("application/yaml", docs.OpenAPI), newSpec("application/json", specJSON(docs.OpenAPI))

type spec struct {
	body        []byte
	contentType string
	etag        string
}

func newSpec(contentType string, body []byte) spec {
	sum := sha256.Sum256(body)
	return spec{body: body, contentType: contentType, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
}

// serve answers with the document; a client that has it (If-None-Match)
// gets 304.
func (sp spec) serve(c *gin.Context) {
	c.Header("Content-Type", sp.contentType)
	c.Header("ETag", sp.etag)
	c.Header("Cache-Control", "no-cache")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(sp.body))
}

// specJSON converts the embedded YAML; the tests make sure it converts, so
// a failure here is a broken build.
func specJSON(y []byte) []byte {
	j, err := yamlToJSON(y)
	if err != nil {
		panic("cloud/api: docs/api.yaml: " + err.Error())
	}
	return j
}

// yamlToJSON converts a YAML document to JSON, keeping the order of keys
// (so the JSON reads like the YAML).
func yamlToJSON(y []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeJSON(&b, &doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: expected one document", n.Line)
		}
		return writeJSON(b, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(b, n.Alias)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a key must be a scalar", k.Line)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			key, _ := json.Marshal(k.Value) // JSON keys are strings: 200 → "200"
			b.Write(key)
			b.WriteByte(':')
			if err := writeJSON(b, v); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, v := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, v); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		if _, ok := v.(time.Time); ok { // an unquoted date: JSON has none, keep its text
			v = n.Value
		}
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		b.Write(j)
	default:
		return fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	return nil
}
