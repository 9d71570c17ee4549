package quantize

import (
	"fmt"
	"math"
)

// Visit hands calibration one observed activation: its name and values.
type Visit func(name string, data []float32)

// histBins is the resolution of the percentile method's histograms: the
// range is cut at a bin edge, 1/4096 of the observed span.
const histBins = 4096

// Calibrate measures the ranges of tensors. pass runs the float model over
// every calibration image, calling visit with each tensor's values; it is
// called once for MinMax and twice for Percentile (the first pass finds
// each tensor's span, the second fills a histogram over it). pct is the
// share of values Percentile keeps inside the range on each side (e.g.
// 99.99).
func Calibrate(tensors []string, method Method, pct float64, pass func(visit Visit) error) (map[string]Range, error) {
	if method == Percentile && (pct <= 50 || pct > 100) {
		return nil, fmt.Errorf("percentile %g is outside (50, 100]: use e.g. 99.99", pct)
	}
	ranges := make(map[string]Range, len(tensors))
	for _, t := range tensors {
		ranges[t] = Range{Min: float32(math.Inf(1)), Max: float32(math.Inf(-1))}
	}
	err := pass(func(name string, data []float32) {
		r, ok := ranges[name]
		if !ok {
			return
		}
		for _, v := range data {
			if v < r.Min {
				r.Min = v
			}
			if v > r.Max {
				r.Max = v
			}
		}
		ranges[name] = r
	})
	if err != nil {
		return nil, err
	}
	for _, t := range tensors {
		if r := ranges[t]; r.Min > r.Max {
			return nil, fmt.Errorf("calibration never saw tensor %q", t)
		}
	}
	if method != Percentile {
		return ranges, nil
	}
	hists := make(map[string][]int64, len(tensors))
	for _, t := range tensors {
		hists[t] = make([]int64, histBins)
	}
	err = pass(func(name string, data []float32) {
		h, ok := hists[name]
		if !ok {
			return
		}
		r := ranges[name]
		w := float64(r.Max-r.Min) / histBins
		for _, v := range data {
			b := 0
			if w > 0 {
				b = min(histBins-1, max(0, int(float64(v-r.Min)/w)))
			}
			h[b]++
		}
	})
	if err != nil {
		return nil, err
	}
	for _, t := range tensors {
		ranges[t] = clip(ranges[t], hists[t], pct)
	}
	return ranges, nil
}

// clip narrows r to the bins that hold pct percent of the values on each
// side.
func clip(r Range, h []int64, pct float64) Range {
	var total int64
	for _, c := range h {
		total += c
	}
	tail := int64(float64(total) * (100 - pct) / 100)
	lo, hi := 0, len(h)-1
	for acc := h[lo]; lo < hi && acc <= tail; acc += h[lo] {
		lo++
	}
	for acc := h[hi]; hi > lo && acc <= tail; acc += h[hi] {
		hi--
	}
	w := (r.Max - r.Min) / float32(len(h))
	return Range{Min: r.Min + float32(lo)*w, Max: r.Min + float32(hi+1)*w}
}
