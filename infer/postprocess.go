package infer

import (
	"fmt"
	"math"
	"slices"
)

// Post holds postprocessing settings and reusable buffers.
type Post struct {
	Confidence float32 // minimum class score, default 0.25
	IoU        float32 // NMS overlap threshold, default 0.45
	MaxDet     int     // cap on detections, default 300
	Classes    []string

	best  []float32 // per anchor: best class score so far
	class []int32   // and its class
	cand  []cand
	keep  []cand
}

type cand struct {
	x1, y1, x2, y2 float32 // network pixels
	score          float32
	class          int
}

// Decode reads a [1, 4+nc, n] output (row-major: all cx, then all cy, ...,
// then each class's scores), keeps candidates above the confidence
// threshold, runs class-aware NMS and maps boxes back through lb.
func (p *Post) Decode(out []float32, nc, n int, lb Letterbox) ([]Detection, error) {
	if nc < 1 || len(out) != (4+nc)*n {
		return nil, fmt.Errorf("output has %d values, want (4+%d)*%d with at least one class", len(out), nc, n)
	}
	conf, iou, maxDet := p.Confidence, p.IoU, p.MaxDet
	if conf == 0 {
		conf = 0.25
	}
	if iou == 0 {
		iou = 0.45
	}
	if maxDet == 0 {
		maxDet = 300
	}
	p.candidates(out, nc, n, conf)
	p.keep = nms(p.cand, p.keep[:0], iou, maxDet)
	dets := make([]Detection, len(p.keep))
	for i, c := range p.keep {
		dets[i] = Detection{ClassID: c.class, Class: p.className(c.class), Confidence: float64(c.score), Box: lb.toImage(c)}
	}
	return dets, nil
}

// candidates collects anchors whose best class scores above conf. The
// output is read one class plane at a time, in memory order: reading an
// anchor's scores across planes strides the whole tensor per anchor.
func (p *Post) candidates(out []float32, nc, n int, conf float32) {
	p.best, p.class = grow(p.best, n), grow(p.class, n)
	best, class := p.best[:n], p.class[:n]
	copy(best, out[4*n:5*n])
	clear(class)
	for c := 1; c < nc; c++ {
		plane := out[(4+c)*n : (5+c)*n]
		for i, s := range plane {
			if s > best[i] {
				best[i], class[i] = s, int32(c)
			}
		}
	}
	p.cand = p.cand[:0]
	for i, s := range best {
		// Strictly above, as Ultralytics' non_max_suppression filters.
		if s > conf {
			cx, cy, w, h := out[i], out[n+i], out[2*n+i], out[3*n+i]
			p.cand = append(p.cand, cand{cx - w/2, cy - h/2, cx + w/2, cy + h/2, s, int(class[i])})
		}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func (p *Post) className(i int) string {
	if i < len(p.Classes) {
		return p.Classes[i]
	}
	return fmt.Sprintf("class%d", i)
}

// maxNMS bounds the candidates NMS looks at, the best first, as
// Ultralytics' max_nms does.
const maxNMS = 30000

// nms keeps the best boxes, suppressing same-class boxes that overlap a
// kept one by more than iou (what torchvision's batched_nms does).
func nms(cands, keep []cand, iou float32, maxDet int) []cand {
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	cands = cands[:min(len(cands), maxNMS)]
	for _, c := range cands {
		ok := true
		for _, k := range keep {
			if k.class == c.class && overlap(k, c) > iou {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, c)
			if len(keep) == maxDet {
				break
			}
		}
	}
	return keep
}

func overlap(a, b cand) float32 {
	iw := min(a.x2, b.x2) - max(a.x1, b.x1)
	ih := min(a.y2, b.y2) - max(a.y1, b.y1)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := (a.x2-a.x1)*(a.y2-a.y1) + (b.x2-b.x1)*(b.y2-b.y1) - inter
	return inter / union
}

// toImage undoes the letterbox and clips to the image.
func (lb Letterbox) toImage(c cand) Box {
	clip := func(v float64, hi int) float64 { return math.Max(0, math.Min(v, float64(hi))) }
	x1 := clip((float64(c.x1)-float64(lb.PadX))/lb.Scale, lb.ImgW)
	y1 := clip((float64(c.y1)-float64(lb.PadY))/lb.Scale, lb.ImgH)
	x2 := clip((float64(c.x2)-float64(lb.PadX))/lb.Scale, lb.ImgW)
	y2 := clip((float64(c.y2)-float64(lb.PadY))/lb.Scale, lb.ImgH)
	return Box{X: round2(x1), Y: round2(y1), Width: round2(x2 - x1), Height: round2(y2 - y1)}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
