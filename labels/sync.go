package labels

import (
	"context"
	"encoding/json"
	"image"
	_ "image/jpeg" // result images
	_ "image/png"
	"math"
	"strconv"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/store"
)

// overlap is how far back each sync looks again: a result is stamped
// inside the transaction that stores it, and one stamped just before the
// last sync's newest may commit after it (PostgreSQL, concurrent writers).
// An ingester's transaction lasts at most its timeout (10 s), so 30 s
// covers it. Results already queued are skipped by the query itself.
const overlap = 30 * time.Second

// syncEvery is how often reads take new results in at most; a read within
// it of the last sync sees the queue as that sync left it.
const syncEvery = time.Second

const syncPage = 500

// Sync puts results with an image received since the last sync into the
// queue. Reads call it, so the queue is as fresh as the results (to within
// syncEvery); several replicas may sync at once (inserts are idempotent).
func (s *Service) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.synced) < syncEvery {
		return nil
	}
	if s.mark.IsZero() {
		last, err := s.store.LatestLabelImageTime(ctx)
		if err != nil {
			return err
		}
		s.mark, s.markAt = last, now
	}
	to, err := s.store.LatestResultTime(ctx)
	if err != nil || to.IsZero() {
		return err
	}
	// Nothing newer, and nothing older can still commit: done.
	if !to.After(s.mark) && now.Sub(s.markAt) > overlap {
		s.synced = now
		return nil
	}
	if err := s.syncRange(ctx, s.mark.Add(-overlap), to); err != nil {
		return err
	}
	if to.After(s.mark) {
		s.mark, s.markAt = to, now
	}
	s.synced = now
	return nil
}

// syncRange queues the results with images received from `from` to `to`.
func (s *Service) syncRange(ctx context.Context, from, to time.Time) error {
	models := map[string]*vise.ModelVersion{} // by sha256, for this sync
	for {
		rs, err := s.store.ResultsWithImages(ctx, from, to, syncPage)
		if err != nil {
			return err
		}
		srcs := make([]store.LabelSource, 0, len(rs))
		for _, r := range rs {
			if src, ok := s.source(ctx, r, models); ok {
				srcs = append(srcs, src)
			}
		}
		if n, err := s.store.AddLabelImages(ctx, srcs); err != nil {
			return err
		} else if n > 0 {
			s.log.Info("images queued for labelling", "count", n)
		}
		if len(rs) < syncPage {
			return nil
		}
		next := rs[len(rs)-1].ReceivedAt
		if !next.After(from) {
			next = from.Add(time.Microsecond) // a full page of one instant: go on
		}
		from = next
	}
}

// sent is what the server adds to a device's result (infer.Result) on the
// way in.
type sent struct {
	Image struct {
		Stored string `json:"stored"` // the image's sha256 in the blob store
	} `json:"image"`
}

// source makes a queue entry of a stored result; ok is false for one
// without a usable image.
func (s *Service) source(ctx context.Context, r vise.Result, models map[string]*vise.ModelVersion) (src store.LabelSource, ok bool) {
	var res infer.Result
	var extra sent
	if json.Unmarshal(r.Payload, &res) != nil || json.Unmarshal(r.Payload, &extra) != nil || extra.Image.Stored == "" {
		return src, false
	}
	im := vise.LabelImage{Device: r.Device, MsgID: r.MsgID, Component: r.Component, ComponentVersion: res.ComponentVersion, PartID: res.PartID,
		ImageSHA256: extra.Image.Stored, ImageName: res.Image.Name,
		Width: res.Image.Width, Height: res.Image.Height, ReceivedAt: r.ReceivedAt,
		Model: vise.LabelModel{Name: res.Model.Name, Version: res.Model.Version, SHA256: res.Model.SHA256}}
	if !res.CapturedAt.IsZero() {
		at := res.CapturedAt.UTC()
		im.CapturedAt = &at
	}
	if im.Width <= 0 || im.Height <= 0 {
		if im.Width, im.Height, ok = s.imageSize(ctx, im.ImageSHA256); !ok {
			s.log.Warn("result image unreadable; not queued for labelling", "device", r.Device, "msg_id", r.MsgID, "image", im.ImageSHA256)
			return src, false
		}
	}
	// The registry's name and version, when it knows the file, so the
	// queue filters by what people call the model.
	mv, seen := models[im.Model.SHA256]
	if !seen {
		mv, _ = s.store.ModelVersionBySHA256(ctx, im.Model.SHA256) // nil if the registry does not know it
		models[im.Model.SHA256] = mv
	}
	if mv != nil {
		im.Model.Name, im.Model.Version = mv.Group, strconv.Itoa(mv.Version)
	}
	for _, d := range res.Detections {
		if b, ok := clamp(d, im.Width, im.Height); ok {
			im.Prelabels = append(im.Prelabels, b)
		}
		if im.TopConfidence == nil || d.Confidence > *im.TopConfidence {
			c := d.Confidence
			im.TopConfidence = &c
		}
	}
	return store.LabelSource{Image: im, DeviceReason: res.Reason, Detections: len(res.Detections)}, true
}

// clamp fits a detection into the image, so accepting the pre-labels as
// they are passes the checks a person's boxes do.
func clamp(d infer.Detection, w, h int) (vise.LabelBox, bool) {
	x0, y0 := math.Max(0, d.Box.X), math.Max(0, d.Box.Y)
	x1, y1 := math.Min(float64(w), d.Box.X+d.Box.Width), math.Min(float64(h), d.Box.Y+d.Box.Height)
	if !finite(x0, y0, x1, y1) || x1 <= x0 || y1 <= y0 {
		return vise.LabelBox{}, false
	}
	return vise.LabelBox{Class: d.Class, X: x0, Y: y0, Width: x1 - x0, Height: y1 - y0, Confidence: d.Confidence}, true
}

func (s *Service) imageSize(ctx context.Context, sha string) (w, h int, ok bool) {
	rc, err := s.blobs.OpenArtifact(ctx, sha, 0, -1)
	if err != nil {
		return 0, 0, false
	}
	defer rc.Close()
	cfg, _, err := image.DecodeConfig(rc)
	return cfg.Width, cfg.Height, err == nil && cfg.Width > 0 && cfg.Height > 0
}
