package api

import (
	"net/http"

	"github.com/clawfleet/clawfleet/cloud/factory"
	"github.com/gin-gonic/gin"
)

// batchRoutes are the factory's: clawfleet-provision creates a batch and
// registers its devices in chunks; an operator lists and revokes batches.
func (s *server) batchRoutes(admin *gin.RouterGroup) {
	admin.GET("/admin/batches", s.listBatches)
	admin.PUT("/admin/batches/:id", s.putBatch)
	admin.GET("/admin/batches/:id", s.getBatch)
	admin.POST("/admin/batches/:id/devices", s.registerDevices)
	admin.DELETE("/admin/batches/:id", s.revokeBatch)
}

// batchCreated is a batch as PUT answers it, with the URLs its devices'
// credentials get.
type batchCreated struct {
	factory.Summary
	MQTTURL  string `json:"mqttUrl"`
	CloudURL string `json:"cloudUrl"`
}

func (s *server) putBatch(c *gin.Context) {
	var req struct {
		Model string `json:"model"`
	}
	if !s.bindJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	b, created, err := s.opts.Factory.CreateBatch(ctx, c.Param("id"), req.Model, actorOf(c).Audit())
	if err != nil {
		s.failErr(c, err)
		return
	}
	d, err := s.opts.Factory.Get(ctx, b.ID)
	if err != nil {
		s.failErr(c, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	c.JSON(code, batchCreated{Summary: d.Summary, MQTTURL: s.opts.MQTTURL(c.Request.Host), CloudURL: s.opts.CloudURL(c.Request)})
}

func (s *server) registerDevices(c *gin.Context) {
	var req struct {
		Devices []factory.Device `json:"devices"`
	}
	if !s.bindJSON(c, &req) {
		return
	}
	r, err := s.opts.Factory.Register(c.Request.Context(), c.Param("id"), req.Devices, actorOf(c).Audit())
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (s *server) listBatches(c *gin.Context) {
	bs, err := s.opts.Factory.List(c.Request.Context())
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, bs)
}

func (s *server) getBatch(c *gin.Context) {
	d, err := s.opts.Factory.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *server) revokeBatch(c *gin.Context) {
	d, err := s.opts.Factory.Revoke(c.Request.Context(), c.Param("id"), actorOf(c).Audit())
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}
