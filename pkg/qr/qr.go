// Package qr encodes text as a QR code's modules, the one encoding the box's
// local page and the factory's labels share: github.com/skip2/go-qrcode
// (pure Go, the most used Go encoder, no image libraries needed for its
// bitmap) at error correction level M.
//
// Not yeqown/go-qrcode: it scores the eight mask patterns in goroutines
// and breaks ties by which finishes first, so the same text could give
// different (equally valid) codes, and a factory batch rerun rewrote its
// labels (TestLabelSheetPDF and TestRunBatch failed about 1 run in 20).
// skip2 scores them in order: the same text always gives the same code.
package qr

import (
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// QuietZone is the light border a reader needs around the code, in modules.
const QuietZone = 4

// Encode returns the code's modules, row by row, dark = true, without the
// quiet zone.
func Encode(text string) ([][]bool, error) {
	code, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	code.DisableBorder = true
	return code.Bitmap(), nil
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
