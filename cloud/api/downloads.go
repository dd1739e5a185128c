package api

import (
	"net/http"

	"github.com/clawfleet/clawfleet/cloud/downloads"
	"github.com/gin-gonic/gin"
)

// downloadRoutes serves what a worker VM installs from, without
// authentication: install.sh (its default cloud is the URL hosts reach,
// CLAWFLEET_PUBLIC_URL when set) and the agent's files with their SHA256SUMS.
func (s *server) downloadRoutes(r *gin.Engine) {
	r.GET("/install.sh", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Header("X-Content-Type-Options", "nosniff")
		c.Data(http.StatusOK, "text/x-shellscript; charset=utf-8", downloads.InstallScript(s.opts.CloudURL(c.Request)))
	})
	r.GET("/downloads/:file", func(c *gin.Context) {
		name := c.Param("file")
		if name == downloads.SumsName {
			b, err := s.opts.Downloads.Sums()
			if err != nil {
				s.failErr(c, err)
				return
			}
			c.Header("Cache-Control", "no-cache")
			c.Data(http.StatusOK, "text/plain; charset=utf-8", b)
			return
		}
		f, fi, err := s.opts.Downloads.Open(name)
		if err != nil {
			s.failErr(c, err)
			return
		}
		defer f.Close()
		c.Header("Content-Type", "application/octet-stream")
		c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
		c.Header("X-Content-Type-Options", "nosniff")
		http.ServeContent(c.Writer, c.Request, name, fi.ModTime(), f)
	})
}
