package provisioning

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/clawfleet/clawfleet/pkg/qr"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Label is what a box's label shows: the QR code of ClaimURL, the claim
// code in text, the model and the device ID, and where to type the code
// when the QR code cannot be scanned.
type Label struct {
	Model, DeviceID, ClaimCode, ClaimURL string
}

// A label is LabelWidth × LabelHeight millimetres; a PNG has LabelDPI.
const (
	LabelWidth  = 64.0
	LabelHeight = 32.0
	LabelDPI    = 300
	// The A4 sheet: LabelColumns × LabelRows labels a page.
	LabelColumns = 3
	LabelRows    = 8
)

// Text styles of a label.
type textStyle int

const (
	styleBold textStyle = iota
	styleRegular
	styleMono
	styleMonoBold
)

// canvas is where a label is drawn, in millimetres from the top left: a PNG
// or a PDF page.
type canvas interface {
	// qr draws bits (with their quiet zone) in the square at x, y of side size.
	qr(x, y, size float64, bits [][]bool)
	// text draws s with its baseline at y; width measures it.
	text(x, y float64, st textStyle, pt float64, s string)
	width(st textStyle, pt float64, s string) float64
}

// drawLabel lays a label out at ox, oy. The layout is the same on the PNG
// and the PDF; each measures its own fonts, and a line too wide for the
// label is set smaller.
func drawLabel(c canvas, ox, oy float64, l Label, bits [][]bool) {
	const margin = 3.0
	size := LabelHeight - 2*margin
	c.qr(ox+margin, oy+margin, size, bits)
	x := ox + margin + size + 2
	avail := ox + LabelWidth - margin - x
	where := "Scan, or type the code at " + claimPage(l.ClaimURL)
	lines := []struct {
		y  float64
		st textStyle
		pt float64
		s  string
	}{
		{7.5, styleBold, 10, l.Model},
		{11.8, styleRegular, 6, "Claim code"},
		{16.3, styleMonoBold, 11, l.ClaimCode},
		{20.6, styleRegular, 6, "Device ID"},
		{24.4, styleMono, 7.5, l.DeviceID},
		{28.6, styleRegular, 5, where},
	}
	for _, ln := range lines {
		pt := ln.pt
		if w := c.width(ln.st, pt, ln.s); w > avail {
			pt = math.Floor(pt*avail/w*10) / 10
		}
		c.text(x, oy+ln.y, ln.st, pt, ln.s)
	}
}

// claimPage is the claim link without its query: the page a person types
// the code into.
func claimPage(claimURL string) string {
	u, err := url.Parse(claimURL)
	if err != nil {
		return claimURL
	}
	return u.Host + u.Path
}

// LabelPNG renders a label at LabelDPI.
func LabelPNG(l Label) ([]byte, error) {
	bits, err := qr.Encode(l.ClaimURL)
	if err != nil {
		return nil, err
	}
	c, err := newPNGCanvas()
	if err != nil {
		return nil, err
	}
	drawLabel(c, 0, 0, l, bits)
	var buf bytes.Buffer
	if err := png.Encode(&buf, c.img); err != nil {
		return nil, fmt.Errorf("encode label PNG: %w", err)
	}
	return buf.Bytes(), nil
}

type pngCanvas struct {
	img   *image.Gray
	faces map[faceKey]font.Face
}

type faceKey struct {
	st textStyle
	pt float64
}

const pxPerMM = LabelDPI / 25.4

func px(mm float64) int { return int(math.Round(mm * pxPerMM)) }

func newPNGCanvas() (*pngCanvas, error) {
	if _, err := parsedFonts(); err != nil {
		return nil, err
	}
	img := image.NewGray(image.Rect(0, 0, px(LabelWidth), px(LabelHeight)))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	return &pngCanvas{img: img, faces: map[faceKey]font.Face{}}, nil
}

// qr snaps modules to whole pixels, so every module of the PNG is the same
// size and the code scans crisply.
func (c *pngCanvas) qr(x, y, size float64, bits [][]bool) {
	n := len(bits) + 2*qr.QuietZone
	mod := px(size) / n
	x0 := px(x) + (px(size)-mod*n)/2 + qr.QuietZone*mod
	y0 := px(y) + (px(size)-mod*n)/2 + qr.QuietZone*mod
	for r, row := range bits {
		for col, dark := range row {
			if dark {
				draw.Draw(c.img, image.Rect(x0+col*mod, y0+r*mod, x0+(col+1)*mod, y0+(r+1)*mod), image.Black, image.Point{}, draw.Src)
			}
		}
	}
}

func (c *pngCanvas) face(st textStyle, pt float64) font.Face {
	k := faceKey{st, pt}
	if f, ok := c.faces[k]; ok {
		return f
	}
	fonts, _ := parsedFonts()
	f, err := opentype.NewFace(fonts[st], &opentype.FaceOptions{Size: pt, DPI: LabelDPI, Hinting: font.HintingFull})
	if err != nil {
		panic(fmt.Sprintf("go fonts: %v", err)) // the embedded fonts always parse
	}
	c.faces[k] = f
	return f
}

func (c *pngCanvas) text(x, y float64, st textStyle, pt float64, s string) {
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(color.Black), Face: c.face(st, pt), Dot: fixed.P(px(x), px(y))}
	d.DrawString(s)
}

func (c *pngCanvas) width(st textStyle, pt float64, s string) float64 {
	return float64(font.MeasureString(c.face(st, pt), s).Ceil()) / pxPerMM
}

var (
	fontsOnce sync.Once
	fonts     map[textStyle]*opentype.Font
	fontsErr  error
)

// parsedFonts are the Go fonts the PNG labels are set in.
func parsedFonts() (map[textStyle]*opentype.Font, error) {
	fontsOnce.Do(func() {
		fonts = map[textStyle]*opentype.Font{}
		for st, ttf := range map[textStyle][]byte{styleBold: gobold.TTF, styleRegular: goregular.TTF, styleMono: gomono.TTF, styleMonoBold: gomonobold.TTF} {
			f, err := opentype.Parse(ttf)
			if err != nil {
				fontsErr = fmt.Errorf("go fonts: %w", err)
				return
			}
			fonts[st] = f
		}
	})
	return fonts, fontsErr
}

// LabelSheetPDF lays labels out on A4 pages, LabelColumns × LabelRows a
// page, each framed by a thin grey cutting line. created dates the file, so
// the same labels make the same bytes.
func LabelSheetPDF(labels []Label, created time.Time) ([]byte, error) {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetCreationDate(created)
	f.SetModificationDate(created)
	f.SetCatalogSort(true)
	f.SetAutoPageBreak(false, 0)
	f.SetTitle("Claim labels", false)
	f.SetProducer("clawfleet-provision", false)
	pageW, pageH := f.GetPageSize()
	left := (pageW - LabelColumns*LabelWidth) / 2
	top := (pageH - LabelRows*LabelHeight) / 2
	c := &pdfCanvas{f: f}
	for i, l := range labels {
		if i%(LabelColumns*LabelRows) == 0 {
			f.AddPage()
		}
		bits, err := qr.Encode(l.ClaimURL)
		if err != nil {
			return nil, err
		}
		slot := i % (LabelColumns * LabelRows)
		x := left + float64(slot%LabelColumns)*LabelWidth
		y := top + float64(slot/LabelColumns)*LabelHeight
		f.SetDrawColor(190, 190, 190)
		f.SetLineWidth(0.1)
		f.Rect(x, y, LabelWidth, LabelHeight, "D")
		drawLabel(c, x, y, l, bits)
	}
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		return nil, fmt.Errorf("write the label sheet: %w", err)
	}
	return buf.Bytes(), nil
}

type pdfCanvas struct{ f *fpdf.Fpdf }

// qr draws each run of dark modules in a row as one rectangle.
func (c *pdfCanvas) qr(x, y, size float64, bits [][]bool) {
	mod := size / float64(len(bits)+2*qr.QuietZone)
	x0, y0 := x+qr.QuietZone*mod, y+qr.QuietZone*mod
	c.f.SetFillColor(0, 0, 0)
	qr.Runs(bits, func(r, col, n int) {
		c.f.Rect(x0+float64(col)*mod, y0+float64(r)*mod, float64(n)*mod, mod, "F")
	})
}

// The PDF uses the core fonts (no font embedded): Helvetica and Courier.
func (c *pdfCanvas) font(st textStyle, pt float64) {
	switch st {
	case styleBold:
		c.f.SetFont("Helvetica", "B", pt)
	case styleRegular:
		c.f.SetFont("Helvetica", "", pt)
	case styleMono:
		c.f.SetFont("Courier", "", pt)
	default:
		c.f.SetFont("Courier", "B", pt)
	}
}

func (c *pdfCanvas) text(x, y float64, st textStyle, pt float64, s string) {
	c.font(st, pt)
	c.f.SetTextColor(0, 0, 0)
	c.f.Text(x, y, s)
}

func (c *pdfCanvas) width(st textStyle, pt float64, s string) float64 {
	c.font(st, pt)
	return c.f.GetStringWidth(s)
}

// ValidateModel checks a model name for the labels: 1-64 printable ASCII
// characters (the labels' fonts print no other).
func ValidateModel(model string) error {
	if model == "" || len(model) > 64 {
		return fmt.Errorf("--model must be 1-64 characters, e.g. \"OpenClaw Box v1\"")
	}
	if strings.IndexFunc(model, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return fmt.Errorf("--model %q: use printable ASCII only (the labels' fonts print no other)", model)
	}
	return nil
}
