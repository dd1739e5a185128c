package qr

import (
	"fmt"
	"slices"
	"testing"
)

func TestEncode(t *testing.T) {
	bits, err := Encode("https://cloud.example.com/claim?d=dev_abcdefgh12345678&c=ABCD-EFGH-JKMN")
	if err != nil {
		t.Fatal(err)
	}
	n := len(bits)
	if n < 21 || (n-17)%4 != 0 {
		t.Fatalf("%d modules a side is no QR version", n)
	}
	for _, row := range bits {
		if len(row) != n {
			t.Fatal("the matrix is not square")
		}
	}
	// The three finder patterns: a dark 7×7 ring with a dark 3×3 centre.
	for _, at := range [][2]int{{0, 0}, {0, n - 7}, {n - 7, 0}} {
		for i := range 7 {
			for j := range 7 {
				ring := i == 0 || i == 6 || j == 0 || j == 6
				centre := i >= 2 && i <= 4 && j >= 2 && j <= 4
				if bits[at[0]+i][at[1]+j] != (ring || centre) {
					t.Fatalf("finder at %v: module %d,%d wrong", at, i, j)
				}
			}
		}
	}
}

func TestRuns(t *testing.T) {
	bits := [][]bool{{true, true, false, true}, {false, false, false, false}, {true, true, true, true}}
	var got [][3]int
	Runs(bits, func(r, c, n int) { got = append(got, [3]int{r, c, n}) })
	want := [][3]int{{0, 0, 2}, {0, 3, 1}, {2, 0, 4}}
	if len(got) != len(want) {
		t.Fatalf("runs %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("runs %v, want %v", got, want)
		}
	}
}

// The same text always gives the same code (a factory rerun must not
// rewrite its labels): yeqown/go-qrcode broke ties between mask patterns
// by goroutine order, and 1 text in about 20 came out two ways.
func TestEncodeIsDeterministic(t *testing.T) {
	for i := range 300 {
		text := fmt.Sprintf("https://cloud.example.com/claim?d=dev_%016d&c=%04d-%04d-%04d", i*7919, i, i*31%10000, i*97%10000)
		a, err := Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			b, _ := Encode(text)
			if !slices.EqualFunc(a, b, slices.Equal[[]bool]) {
				t.Fatalf("%q encoded two ways", text)
			}
		}
	}
}
