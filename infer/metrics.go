package infer

import (
	"slices"
)

// GroundTruth is a labelled box in image pixels.
type GroundTruth struct {
	ClassID int
	Box     Box
}

// Scored is one image's detections and labels, for evaluation.
type Scored struct {
	Detections []Detection
	Truth      []GroundTruth
}

// MAP returns COCO-style mean average precision (101-point interpolation)
// at IoU 0.50 and averaged over IoU 0.50:0.05:0.95, over the classes that
// have labels.
func MAP(images []Scored, classes int) (map50, map5095 float64) {
	var sum50, sumAll float64
	n := 0
	for c := range classes {
		if truths(images, c) == 0 {
			continue
		}
		n++
		for i := range 10 {
			ap := averagePrecision(images, c, 0.5+0.05*float64(i))
			if i == 0 {
				sum50 += ap
			}
			sumAll += ap / 10
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum50 / float64(n), sumAll / float64(n)
}

func truths(images []Scored, class int) int {
	n := 0
	for _, im := range images {
		for _, g := range im.Truth {
			if g.ClassID == class {
				n++
			}
		}
	}
	return n
}

type ranked struct {
	conf float64
	tp   bool
}

// averagePrecision matches detections of one class, best first, each to
// the unmatched label it overlaps most (at least thr), and integrates the
// precision/recall curve at 101 recall points as COCO does.
func averagePrecision(images []Scored, class int, thr float64) float64 {
	var all []ranked
	for _, im := range images {
		var gts []Box
		for _, g := range im.Truth {
			if g.ClassID == class {
				gts = append(gts, g.Box)
			}
		}
		var dets []Detection
		for _, d := range im.Detections {
			if d.ClassID == class {
				dets = append(dets, d)
			}
		}
		slices.SortStableFunc(dets, func(a, b Detection) int { return cmpDesc(a.Confidence, b.Confidence) })
		used := make([]bool, len(gts))
		for _, d := range dets {
			best, bi := thr, -1
			for i, g := range gts {
				if !used[i] {
					if o := iou(d.Box, g); o >= best {
						best, bi = o, i
					}
				}
			}
			if bi >= 0 {
				used[bi] = true
			}
			all = append(all, ranked{d.Confidence, bi >= 0})
		}
	}
	total := truths(images, class)
	slices.SortStableFunc(all, func(a, b ranked) int { return cmpDesc(a.conf, b.conf) })
	prec := make([]float64, len(all))
	rec := make([]float64, len(all))
	tp := 0
	for i, r := range all {
		if r.tp {
			tp++
		}
		prec[i] = float64(tp) / float64(i+1)
		rec[i] = float64(tp) / float64(total)
	}
	for i := len(prec) - 2; i >= 0; i-- { // precision envelope
		prec[i] = max(prec[i], prec[i+1])
	}
	var ap float64
	j := 0
	for k := range 101 {
		r := float64(k) / 100
		for j < len(rec) && rec[j] < r {
			j++
		}
		if j < len(prec) {
			ap += prec[j]
		}
	}
	return ap / 101
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func iou(a, b Box) float64 {
	iw := min(a.X+a.Width, b.X+b.Width) - max(a.X, b.X)
	ih := min(a.Y+a.Height, b.Y+b.Height) - max(a.Y, b.Y)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	return inter / (a.Width*a.Height + b.Width*b.Height - inter)
}
