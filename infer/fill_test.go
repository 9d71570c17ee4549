package infer

import (
	"math/rand/v2"
	"testing"
)

// noise is w x h pixels of random levels.
func noise(w, h, ch int) Pixels {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	p := Pixels{Pix: make([]byte, w*h*ch), Width: w, Height: h, Channels: ch}
	for i := range p.Pix {
		p.Pix[i] = byte(rng.IntN(256))
	}
	return p
}

// A gray image fills all three planes with what the same levels as RGB give.
func TestFillGrayMatchesRGB(t *testing.T) {
	gray := noise(45, 30, 1)
	rgb := Pixels{Pix: make([]byte, 3*len(gray.Pix)), Width: 45, Height: 30, Channels: 3}
	for i, v := range gray.Pix {
		rgb.Pix[3*i], rgb.Pix[3*i+1], rgb.Pix[3*i+2] = v, v, v
	}
	lb := NewLetterbox(45, 30, 32, 32)
	a, b := make([]float32, 3*32*32), make([]float32, 3*32*32)
	var f Filler
	f.Fill(lb, gray, a)
	f.Fill(lb, rgb, b)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d: gray %v, rgb %v", i, a[i], b[i])
		}
	}
}

// Bilinear weights sum to one: a flat image stays flat at any scale, and
// the padding is exactly gray 114.
func TestFillFlat(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {7, 3}, {450, 300}, {612, 512}, {2448, 2048}} {
		p := Pixels{Pix: make([]byte, 3*size[0]*size[1]), Width: size[0], Height: size[1], Channels: 3}
		for i := range p.Pix {
			p.Pix[i] = byte(40 + 50*(i%3))
		}
		lb := NewLetterbox(size[0], size[1], 64, 48)
		dst := make([]float32, 3*64*48)
		var f Filler
		f.Fill(lb, p, dst)
		newW, newH := lb.resized()
		for c, want := range []float32{unit[40], unit[90], unit[140]} {
			for y := range 48 {
				for x := range 64 {
					got, inside := dst[c*64*48+y*64+x], x >= lb.PadX && x < lb.PadX+newW && y >= lb.PadY && y < lb.PadY+newH
					if inside && got != want || !inside && got != pad {
						t.Fatalf("%v: channel %d at %d,%d = %v (inside %v)", size, c, x, y, got*255, inside)
					}
				}
			}
		}
	}
}

// Once its tables are built, filling a frame of the same size allocates
// nothing; a DCT-scaled source (the same image at a quarter of the size)
// uses the same geometry.
func TestFillAllocatesNothing(t *testing.T) {
	src := noise(612, 512, 3) // 2448x2048 decoded at 1/4
	lb := NewLetterbox(2448, 2048, 320, 320)
	dst := make([]float32, 3*320*320)
	var f Filler
	if n := testing.AllocsPerRun(20, func() { f.Fill(lb, src, dst) }); n != 0 {
		t.Errorf("%v allocations a frame, want 0", n)
	}
}
