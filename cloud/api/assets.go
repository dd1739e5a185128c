package api

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
)

// assets serves the dashboard's and the console's pages and files from
// the binary. Files have no modification time in an embed.FS, so without
// help a browser fetches every script and style sheet again on each load.
// Each file gets a content hash: the pages link "/assets/<file>?v=<hash>",
// which is cached for good (a new build changes the hash, hence the URL),
// and every answer carries the hash as its ETag for a cheap revalidation.
type assets struct {
	files  http.Handler
	hashes map[string]string // file name → hash
	pages  map[string][]byte // page file → its HTML with versioned links
}

var assetLink = regexp.MustCompile(`"/assets/([A-Za-z0-9._-]+)"`)

// webAssets are the files in web/, read once: the embedded files cannot
// change, so a failure here is a broken build.
var webAssets = func() *assets {
	sub, err := fs.Sub(webFS, "web")
	if err == nil {
		var a *assets
		if a, err = newAssets(sub); err == nil {
			return a
		}
	}
	panic("api: embedded web files: " + err.Error())
}()

func newAssets(sub fs.FS) (*assets, error) {
	a := &assets{files: http.FileServer(http.FS(sub)), hashes: map[string]string{}, pages: map[string][]byte{}}
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := fs.ReadFile(sub, e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		a.hashes[e.Name()] = hex.EncodeToString(sum[:6])
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".html") {
			continue
		}
		b, _ := fs.ReadFile(sub, e.Name())
		a.pages[e.Name()] = assetLink.ReplaceAllFunc(b, func(m []byte) []byte {
			name := string(assetLink.FindSubmatch(m)[1])
			if h, ok := a.hashes[name]; ok {
				return []byte(`"` + a.url(name, h) + `"`)
			}
			return m
		})
	}
	return a, nil
}

func (a *assets) url(name, hash string) string { return "/assets/" + name + "?v=" + hash }

// URL is the versioned link of a file ("/assets/claim.js?v=…").
func (a *assets) URL(name string) string { return a.url(name, a.hashes[name]) }

// page serves an HTML page; pages are revalidated on every load.
func (a *assets) page(name string) gin.HandlerFunc {
	return func(c *gin.Context) {
		pageHeaders(c)
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "text/html; charset=utf-8", a.pages[name])
	}
}

// file serves /assets/*path: for good when asked for by its current
// version, else to be revalidated by its ETag.
func (a *assets) file(c *gin.Context) {
	pageHeaders(c)
	name := strings.TrimPrefix(c.Param("path"), "/")
	if h, ok := a.hashes[name]; ok {
		c.Header("ETag", `"`+h+`"`)
		if c.Query("v") == h {
			c.Header("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			c.Header("Cache-Control", "no-cache")
		}
	}
	c.Request.URL.Path = "/" + name
	a.files.ServeHTTP(c.Writer, c.Request)
}
