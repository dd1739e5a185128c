package pairing

import (
	"fmt"
	"strings"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// qrSVG draws text as a QR code in SVG: one path of dark modules on white,
// with the standard quiet zone of four modules. github.com/yeqown/go-qrcode
// (maintained, pure Go, no image libraries needed for its matrix) encodes;
// the factory's label tool uses the same encoder.
func qrSVG(text string) ([]byte, error) {
	qr, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	var m matrixWriter
	if err := qr.Save(&m); err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	const quiet = 4
	size := len(m.bits) + 2*quiet
	var path strings.Builder
	for y, row := range m.bits {
		for x := 0; x < len(row); x++ {
			if !row[x] {
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&path, "M%d %dh%dv1h-%dz", x+quiet, y+quiet, run, run)
			x += run - 1
		}
	}
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`+
		`<rect width="100%%" height="100%%" fill="#fff"/><path fill="#000" d="%s"/></svg>`, size, size, path.String()), nil
}

// matrixWriter keeps the encoded modules.
type matrixWriter struct{ bits [][]bool }

func (m *matrixWriter) Write(mat qrcode.Matrix) error { m.bits = mat.Bitmap(); return nil }
func (m *matrixWriter) Close() error                  { return nil }
