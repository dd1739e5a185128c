package provisioning

import (
	"bytes"
	"compress/zlib"
	"image/png"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/qr"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

func testLabel(model string) Label {
	id, code := creds.NewDeviceID(), creds.NewClaimCode()
	return Label{Model: model, DeviceID: id, ClaimCode: code, ClaimURL: creds.ClaimURL("https://cloud.example.com", id, code)}
}

// decodeQR reads the QR code of a PNG back, as a phone would.
func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	got := tstest.ReadQR(t, b)
	if got == "" {
		t.Fatal("no QR code read from the label")
	}
	return got
}

func TestLabelPNG(t *testing.T) {
	for _, model := range []string{"OpenClaw Box v1", strings.Repeat("OpenClaw Box with a very long name ", 2)[:64]} {
		l := testLabel(model)
		b, err := LabelPNG(l)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := png.Decode(bytes.NewReader(b))
		if got := img.Bounds().Size(); got.X != 756 || got.Y != 378 {
			t.Fatalf("label is %v pixels, want 64 × 32 mm at 300 dpi (756 × 378)", got)
		}
		if got := decodeQR(t, b); got != l.ClaimURL {
			t.Fatalf("the label's QR code reads %q, want %q", got, l.ClaimURL)
		}
		if !strings.Contains(l.ClaimURL, "/claim?d="+l.DeviceID+"&c="+l.ClaimCode) {
			t.Fatalf("claim URL %q", l.ClaimURL)
		}
	}
}

// pdfText is the text a PDF shows: the strings of its content streams'
// text operators, in order.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	var out strings.Builder
	streams := regexp.MustCompile(`(?s)/Filter /FlateDecode.*?stream\r?\n(.*?)\r?\nendstream`).FindAllSubmatch(pdf, -1)
	tj := regexp.MustCompile(`\(((?:[^()\\]|\\.)*)\) Tj`)
	for _, s := range streams {
		r, err := zlib.NewReader(bytes.NewReader(s[1]))
		if err != nil {
			continue // a font or image stream
		}
		raw, err := io.ReadAll(r)
		if err != nil {
			continue
		}
		for _, m := range tj.FindAllSubmatch(raw, -1) {
			out.Write(m[1])
			out.WriteByte('\n')
		}
	}
	return out.String()
}

func TestLabelSheetPDF(t *testing.T) {
	var ls []Label
	for range LabelColumns*LabelRows + 1 {
		ls = append(ls, testLabel("OpenClaw Box v1"))
	}
	created := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	pdf, err := LabelSheetPDF(ls, created)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.")) || !bytes.HasSuffix(bytes.TrimSpace(pdf), []byte("%%EOF")) {
		t.Fatal("not a PDF file")
	}
	if pages := len(regexp.MustCompile(`/Type /Page\b[^s]`).FindAll(pdf, -1)); pages != 2 {
		t.Fatalf("%d pages for %d labels, want 2", pages, len(ls))
	}
	if !bytes.Contains(pdf, []byte("/MediaBox [0 0 595.28 841.89]")) {
		t.Fatal("the sheet is not A4")
	}
	text := pdfText(t, pdf)
	for i, l := range ls {
		for _, want := range []string{l.DeviceID, l.ClaimCode, l.Model, "Scan, or type the code at cloud.example.com/claim"} {
			if !strings.Contains(text, want+"\n") {
				t.Fatalf("label %d: %q not printed on the sheet:\n%s", i, want, text)
			}
		}
	}
	if n := strings.Count(text, "Claim code\n"); n != len(ls) {
		t.Fatalf("%d labels on the sheet, want %d", n, len(ls))
	}
	// The same labels make the same bytes (a rerun rewrites nothing).
	again, _ := LabelSheetPDF(ls, created)
	if !bytes.Equal(pdf, again) {
		t.Fatal("the sheet differs between two runs")
	}
}

// TestLabelQRMatchesEncoder: the PNG's modules are the encoder's matrix,
// module for module.
func TestLabelQRMatchesEncoder(t *testing.T) {
	l := testLabel("OpenClaw Box v1")
	bits, err := qr.Encode(l.ClaimURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LabelPNG(l)
	img, _ := png.Decode(bytes.NewReader(b))
	n := len(bits) + 2*qr.QuietZone
	size := px(LabelHeight - 6)
	mod := size / n
	x0 := px(3) + (size-mod*n)/2 + qr.QuietZone*mod
	for r, row := range bits {
		for c, dark := range row {
			cx, cy := x0+c*mod+mod/2, x0+r*mod+mod/2
			gray, _, _, _ := img.At(cx, cy).RGBA()
			if got := gray < 0x8000; got != dark {
				t.Fatalf("module %d,%d is %v on the label, %v in the matrix", r, c, got, dark)
			}
		}
	}
	if len(bits) < 21 || (len(bits)-17)%4 != 0 {
		t.Fatalf("matrix of %d modules is no QR version", len(bits))
	}
}
