package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/turbo"
)

// parseSize reads "WxH".
func parseSize(s string) (int, int, error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	if !ok || errW != nil || errH != nil || w < 1 || h < 1 || w > 16384 || h > 16384 {
		return 0, 0, fmt.Errorf("%w: size %q: want WIDTHxHEIGHT, e.g. 1280x720 (each 1-16384)", errUsage, s)
	}
	return w, h, nil
}

// reencode writes each image, stretched to w x h, as an RGB JPEG of
// quality 90 into dir: the frames a camera of that resolution would
// deliver, made from the images at hand.
func reencode(paths []string, w, h int, dir string) ([]string, error) {
	dec, err := newDecoder(0, 1<<30, 1<<30) // full size
	if err != nil {
		return nil, err
	}
	defer dec.close()
	var rgb []byte
	out := make([]string, len(paths))
	for i, path := range paths {
		d, err := dec.load(path)
		if err != nil {
			return nil, err
		}
		rgb = stretch(d.px, w, h, rgb)
		b, err := turbo.Encode(infer.Pixels{Pix: rgb, Width: w, Height: h, Channels: 3}, turbo.EncodeOptions{Quality: 90})
		if err != nil {
			return nil, fmt.Errorf("re-encode %s: %w", path, err)
		}
		out[i] = filepath.Join(dir, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))+".jpg")
		if err := os.WriteFile(out[i], b, 0o644); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stretch resizes src to w x h RGB (bilinear, aspect not kept) into dst.
func stretch(src infer.Pixels, w, h int, dst []byte) []byte {
	if cap(dst) < 3*w*h {
		dst = make([]byte, 3*w*h)
	}
	dst = dst[:3*w*h]
	ch, stride := src.Channels, src.Width*src.Channels
	xs := make([]float64, w)
	for x := range xs {
		xs[x] = clampPos((float64(x)+0.5)*float64(src.Width)/float64(w)-0.5, src.Width)
	}
	for y := range h {
		fy := clampPos((float64(y)+0.5)*float64(src.Height)/float64(h)-0.5, src.Height)
		y0 := int(fy)
		y1, wy := min(y0+1, src.Height-1), fy-float64(y0)
		for x, fx := range xs {
			x0 := int(fx)
			x1, wx := min(x0+1, src.Width-1), fx-float64(x0)
			for c := range 3 {
				k := min(c, ch-1) // gray: the one channel three times
				at := func(yy, xx int) float64 { return float64(src.Pix[yy*stride+xx*ch+k]) }
				top := at(y0, x0) + (at(y0, x1)-at(y0, x0))*wx
				bot := at(y1, x0) + (at(y1, x1)-at(y1, x0))*wx
				dst[3*(y*w+x)+c] = byte(top + (bot-top)*wy + 0.5)
			}
		}
	}
	return dst
}

func clampPos(s float64, n int) float64 { return max(0, min(s, float64(n-1))) }
