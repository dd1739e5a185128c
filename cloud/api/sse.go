package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// sseStream writes server-sent events to a response, flushing each.
type sseStream struct{ w gin.ResponseWriter }

// startSSE answers 200 with the headers of an event stream that neither
// caches nor proxies buffer.
func startSSE(c *gin.Context) sseStream {
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return sseStream{w: w}
}

// event sends v as JSON in an event called name.
func (s sseStream) event(name string, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b)
	s.w.Flush()
}

// keepalive sends a comment, which keeps idle proxies from closing the stream.
func (s sseStream) keepalive() {
	fmt.Fprint(s.w, ": keepalive\n\n")
	s.w.Flush()
}

// end sends the "end" event of a stream that lasted its most, max.
func (s sseStream) end(max time.Duration) {
	s.event("end", gin.H{"reason": "the stream lasts at most " + max.String() + "; reconnect to go on"})
}
