// Package qr encodes text as a QR code's modules, the one encoding the box's
// local page and the factory's labels share: github.com/yeqown/go-qrcode
// (maintained, pure Go, no image libraries needed for its matrix) at error
// correction level M.
package qr

import (
	"fmt"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// QuietZone is the light border a reader needs around the code, in modules.
const QuietZone = 4

// Encode returns the code's modules, row by row, dark = true, without the
// quiet zone.
func Encode(text string) ([][]bool, error) {
	code, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	var m matrixWriter
	if err := code.Save(&m); err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	return m.bits, nil
}

// Runs calls fn for every run of dark modules in a row, left to right, top
// to bottom: a drawing needs one shape per run, not per module.
func Runs(bits [][]bool, fn func(row, col, n int)) {
	for r, row := range bits {
		for c := 0; c < len(row); c++ {
			if !row[c] {
				continue
			}
			n := 1
			for c+n < len(row) && row[c+n] {
				n++
			}
			fn(r, c, n)
			c += n - 1
		}
	}
}

// matrixWriter keeps the encoded modules.
type matrixWriter struct{ bits [][]bool }

func (m *matrixWriter) Write(mat qrcode.Matrix) error { m.bits = mat.Bitmap(); return nil }
func (m *matrixWriter) Close() error                  { return nil }
