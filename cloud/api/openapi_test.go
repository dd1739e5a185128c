package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/accounts"
	"github.com/clawfleet/clawfleet/cloud/claim"
	"github.com/clawfleet/clawfleet/cloud/downloads"
	"github.com/clawfleet/clawfleet/cloud/factory"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/router"
	"github.com/clawfleet/clawfleet/cloud/sso"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/teams"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/clawfleet/clawfleet/docs"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// Routes of the engine that are no API and so are not in docs/api.yaml.
var undocumented = []string{
	"GET /",              // the dashboard (cloud/api/web)
	"GET /assets/{path}", // its files
	"GET /console",       // the user console (cloud/api/web/console.html)
}

// Paths docs/api.yaml documents that are served in front of the engine
// (cloud/app), so they are not among its routes.
var servedOutside = map[string]string{
	"GET " + router.RoutePath: "cloud/app's withInternal answers nginx's auth_request before the engine",
}

type stubKeys struct{}

func (stubKeys) Rotate(context.Context, string, string) (string, error) { return "", nil }

type stubTokens struct{}

func (stubTokens) Verify(context.Context, string) (sso.User, error) { return sso.User{}, nil }

type stubAccess struct{}

func (stubAccess) IssueAccess(context.Context, string, string, string, string) (string, time.Time, error) {
	return "", time.Time{}, nil
}
func (stubAccess) SignOut(context.Context, string, string) (int, error) { return 0, nil }

// everyRoute is the engine with every optional feature on, so that every
// route the cloud can serve is registered.
func everyRoute(t *testing.T) *gin.Engine {
	t.Helper()
	reg := prometheus.NewRegistry()
	ok := HealthFunc(func(context.Context) error { return nil })
	opts := Options{
		Fleet: new(fleet.Fleet), AdminTokenHash: "x", SharedSecret: "x", Version: "test",
		MQTTURL:  func(string) string { return "" },
		CloudURL: func(*http.Request) string { return "" },
		Store:    ok, Broker: ok, Logger: nil, Registerer: reg, Gatherer: reg,
		TunnelDial: func(context.Context, string, int) (net.Conn, error) { return nil, nil },
		Tenants:    new(tenant.Service), HostLoads: new(tenant.Service), HostKeys: stubKeys{},
		Tokens: stubTokens{}, Access: stubAccess{}, Factory: new(factory.Service), Teams: new(teams.Service),
		Claims: new(claim.Service), Downloads: downloads.New(t.TempDir()),
		Accounts: new(accounts.Service), SignIn: new(login.SignIn), SecretKey: make([]byte, 32),
		Audit: func(context.Context, *store.AuditEvent) error { return nil },
	}
	// A new option that enables routes must be set above, or its routes
	// would escape the check.
	v := reflect.ValueOf(opts)
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Func, reflect.Map, reflect.Chan, reflect.Slice:
			if f.IsNil() && v.Type().Field(i).Name != "Logger" {
				t.Errorf("Options.%s is nil in everyRoute (cloud/api/openapi_test.go): give it a value (a stub will do), so that the routes it enables are registered and checked against docs/api.yaml", v.Type().Field(i).Name)
			}
		}
	}
	return New(opts).(*gin.Engine)
}

// openAPIPath is a gin route's path as OpenAPI writes it: /a/:id/*rest →
// /a/{id}/{rest}.
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if len(s) > 1 && (s[0] == ':' || s[0] == '*') {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatalf("docs/api.yaml does not load as OpenAPI: %v", err)
	}
	return doc
}

// The document is valid OpenAPI 3 (schemas, references, path parameters,
// examples against their schemas).
func TestOpenAPIValid(t *testing.T) {
	doc := loadSpec(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/api.yaml is not valid OpenAPI 3: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi: %q, want 3.x", doc.OpenAPI)
	}
}

// Every route of the engine is documented and every documented operation
// is a route: the document cannot drift from the code.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	registered := map[string]bool{}
	for _, r := range everyRoute(t).Routes() {
		registered[r.Method+" "+openAPIPath(r.Path)] = true
	}
	documented := map[string]bool{}
	for path, item := range loadSpec(t).Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for _, r := range sortedKeys(registered) {
		if documented[r] || slices.Contains(undocumented, r) {
			continue
		}
		method, path, _ := strings.Cut(r, " ")
		t.Errorf("route %s is registered (cloud/api) but docs/api.yaml does not document it: add under `paths:` in docs/api.yaml\n  %s:\n    %s:\n      tags: [...]\n      summary: ...\n      security: ...   (or [] when public)\n      responses: ...\n(like the other operations there; `{name}` for gin's :name); if it is no API (static files), list it in `undocumented` in cloud/api/openapi_test.go",
			r, path, strings.ToLower(method))
	}
	for _, d := range sortedKeys(documented) {
		if registered[d] {
			continue
		}
		if _, ok := servedOutside[d]; ok {
			continue
		}
		t.Errorf("docs/api.yaml documents %s but no route of the engine serves it: register it, remove it from the document, or, if an Option enables it, set that option in everyRoute (cloud/api/openapi_test.go)", d)
	}
	for _, u := range undocumented {
		if !registered[u] {
			t.Errorf("%s is listed in undocumented (cloud/api/openapi_test.go) but is no route: remove it from the list", u)
		}
	}
}

// Every error code the cloud's services can answer is in the Error
// schema's enum, so the clients' error type (a union of these codes) is
// true. Internal errors all answer "internal", whatever their own code.
func TestOpenAPIErrorCodes(t *testing.T) {
	var codes []string
	for _, c := range loadSpec(t).Components.Schemas["Error"].Value.Properties["code"].Value.Enum {
		codes = append(codes, c.(string))
	}
	// apperr.New, and the sentinel helpers of packages that keep a zh-CN
	// text beside each (cloud/login, cloud/accounts).
	sentinel := regexp.MustCompile(`(?:apperr\.New|sentinel)\(\s*apperr\.(\w+),\s*"([^"]+)"`)
	for _, dir := range []string{"../../cloud", "../../pkg"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range sentinel.FindAllSubmatchIndex(src, -1) {
				kind, code := string(src[m[2]:m[3]]), string(src[m[4]:m[5]])
				if kind != "Internal" && !slices.Contains(codes, code) {
					line := 1 + bytes.Count(src[:m[0]], []byte("\n"))
					t.Errorf("error code %q (%s:%d) is not in docs/api.yaml: add it to the enum of components.schemas.Error.properties.code", code, strings.TrimPrefix(path, "../../"), line)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// The cloud serves the document as it is at /api/openapi.yaml and as the
// same data in JSON at /api/openapi.json, without authentication, with an
// ETag clients can revalidate with.
func TestOpenAPIServed(t *testing.T) {
	h := everyRoute(t)
	get := func(path string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	y := get("/api/openapi.yaml")
	if y.Code != http.StatusOK || y.Header().Get("Content-Type") != "application/yaml" || y.Body.String() != string(docs.OpenAPI) {
		t.Fatalf("GET /api/openapi.yaml: %d %q, not the document", y.Code, y.Header().Get("Content-Type"))
	}
	j := get("/api/openapi.json")
	if j.Code != http.StatusOK || j.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/openapi.json: %d %q", j.Code, j.Header().Get("Content-Type"))
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(j.Body.Bytes(), &fromJSON); err != nil {
		t.Fatalf("/api/openapi.json is not JSON: %v", err)
	}
	if err := yaml.Unmarshal(docs.OpenAPI, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if want := normalize(fromYAML); !reflect.DeepEqual(fromJSON, want) {
		t.Error("/api/openapi.json holds other data than docs/api.yaml")
	}
	if _, err := openapi3.NewLoader().LoadFromData(j.Body.Bytes()); err != nil {
		t.Errorf("/api/openapi.json does not load as OpenAPI: %v", err)
	}
	for _, w := range []*httptest.ResponseRecorder{y, j} {
		tag := w.Header().Get("ETag")
		if tag == "" {
			t.Fatal("no ETag")
		}
		path := "/api/openapi.yaml"
		if w == j {
			path = "/api/openapi.json"
		}
		if r := get(path, "If-None-Match", tag); r.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, r.Code)
		}
	}
	if y.Header().Get("ETag") == j.Header().Get("ETag") {
		t.Error("the YAML and the JSON have one ETag")
	}
}

// normalize makes YAML-decoded data comparable with JSON-decoded data.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range v {
			m[k] = normalize(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = normalize(e)
		}
		return l
	case int:
		return float64(v)
	case time.Time:
		return v.Format(time.RFC3339)
	}
	return v
}

func TestYAMLToJSON(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"order kept", "b: 1\na: 2\n", `{"b":1,"a":2}`},
		{"numeric keys are strings", "200: ok\n", `{"200":"ok"}`},
		{"scalars", "s: x\ni: 65536\nf: 1.5\nt: true\nn: null\nq: \"2026\"\n", `{"s":"x","i":65536,"f":1.5,"t":true,"n":null,"q":"2026"}`},
		{"unquoted date stays text", "d: 2026-11-26\n", `{"d":"2026-11-26"}`},
		{"flow style", "l: [a, {b: c}]\n", `{"l":["a",{"b":"c"}]}`},
		{"alias", "a: &x {k: v}\nb: *x\n", `{"a":{"k":"v"},"b":{"k":"v"}}`},
		{"block text", "d: |\n  one\n  two\n", `{"d":"one\ntwo\n"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := yamlToJSON([]byte(tc.yaml))
			if err != nil || string(got) != tc.want {
				t.Errorf("yamlToJSON(%q) = %s, %v; want %s", tc.yaml, got, err, tc.want)
			}
		})
	}
	if _, err := yamlToJSON([]byte("a: [")); err == nil {
		t.Error("broken YAML converted")
	}
}
