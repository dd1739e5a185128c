package pairing

import (
	"fmt"
	"strings"

	"github.com/clawfleet/clawfleet/pkg/qr"
)

// qrSVG draws text as a QR code in SVG: one path of dark modules on white,
// with the standard quiet zone of four modules, encoded as the factory's
// labels are (pkg/qr).
func qrSVG(text string) ([]byte, error) {
	bits, err := qr.Encode(text)
	if err != nil {
		return nil, err
	}
	size := len(bits) + 2*qr.QuietZone
	var path strings.Builder
	qr.Runs(bits, func(y, x, run int) {
		fmt.Fprintf(&path, "M%d %dh%dv1h-%dz", x+qr.QuietZone, y+qr.QuietZone, run, run)
	})
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`+
		`<rect width="100%%" height="100%%" fill="#fff"/><path fill="#000" d="%s"/></svg>`, size, size, path.String()), nil
}
