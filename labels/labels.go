// Package labels is the labelling queue: every image a device sent back,
// with the model's boxes as pre-labels, for people to correct, accept,
// mark as free of defects or skip. It takes images from stored results as
// they are asked for, checks labels against the image and the model's
// classes, and saves them with optimistic concurrency (a save names the
// version it started from).
package labels

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// Blobs opens stored images (the registry does).
type Blobs interface {
	OpenArtifact(ctx context.Context, sha string, offset, length int64) (io.ReadCloser, error)
}

// Options configure a Service. Store and Blobs are required.
type Options struct {
	Store *store.Store
	Blobs Blobs
	// Uncertain is the top-confidence window that makes an image
	// uncertain; default vise.DefaultUncertainWindow.
	Uncertain *vise.ConfidenceWindow
	Logger    *slog.Logger     // default: discard
	Now       func() time.Time // default: time.Now
}

// Service is safe for concurrent use.
type Service struct {
	store  *store.Store
	blobs  Blobs
	window vise.ConfidenceWindow
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex // one sync at a time
	mark   time.Time  // results received up to here are in the queue
	markAt time.Time  // when mark was last moved
	synced time.Time  // when the last sync ran
}

// New makes a Service.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := vise.DefaultUncertainWindow
	if opts.Uncertain != nil {
		w = *opts.Uncertain
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: opts.Store, blobs: opts.Blobs, window: w, log: opts.Logger, now: opts.Now}
}

// Window is the uncertainty window in use.
func (s *Service) Window() vise.ConfidenceWindow { return s.window }

// List returns the images of the queue that match f: uncertain first.
func (s *Service) List(ctx context.Context, f vise.LabelFilter) ([]vise.LabelImage, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	if err := s.Sync(ctx); err != nil {
		return nil, err
	}
	return s.store.ListLabelImages(ctx, f, s.window)
}

func checkFilter(f vise.LabelFilter) error {
	switch f.State {
	case "", vise.LabelNew, vise.LabelLabelled, vise.LabelSkipped:
	default:
		return vise.Errorf(vise.CodeInvalid, "unknown state %q: use new, labelled or skipped", f.State)
	}
	switch f.Reason {
	case "", vise.ReasonDefect, vise.ReasonUncertain, vise.ReasonSample:
	default:
		return vise.Errorf(vise.CodeInvalid, "unknown reason %q: use defect, uncertain or sample", f.Reason)
	}
	return nil
}

// Get returns one image with the classes its boxes may have.
func (s *Service) Get(ctx context.Context, device, msgID string) (*vise.LabelImage, error) {
	if err := s.Sync(ctx); err != nil {
		return nil, err
	}
	im, err := s.store.GetLabelImage(ctx, device, msgID, s.window)
	if err != nil {
		return nil, err
	}
	if im.Classes, err = s.classes(ctx, im.Model); err != nil && vise.ErrorCode(err) != vise.CodeNotFound {
		return nil, err
	}
	return im, nil
}

// classes are the class names of the model that made the image's
// pre-labels, from the registry: by the model file's sha256, or by name
// and version if no registered version has that file.
func (s *Service) classes(ctx context.Context, m vise.LabelModel) ([]string, error) {
	mv, err := s.store.ModelVersionBySHA256(ctx, m.SHA256)
	if vise.ErrorCode(err) == vise.CodeNotFound {
		v, perr := strconv.Atoi(m.Version)
		if perr != nil || vise.ValidateName("model", m.Name) != nil {
			return nil, vise.Errorf(vise.CodeNotFound, "the image's model %s %s (sha256 %s) is not in the registry", m.Name, m.Version, m.SHA256)
		}
		mv, err = s.store.GetModelVersion(ctx, m.Name, v)
	}
	if err != nil {
		return nil, err
	}
	return mv.ClassNames, nil
}

// Save stores a person's label of an image: boxes inside the image, of
// the model's classes, none of zero area; a refusal says which box and why.
func (s *Service) Save(ctx context.Context, device, msgID string, req vise.SaveLabelRequest, by string) (*vise.LabelImage, error) {
	im, err := s.Get(ctx, device, msgID)
	if err != nil {
		return nil, err
	}
	switch req.State {
	case vise.LabelLabelled:
		if err := checkBoxes(im, req.Boxes); err != nil {
			return nil, err
		}
	case vise.LabelSkipped:
		if len(req.Boxes) > 0 {
			return nil, vise.Errorf(vise.CodeInvalid, "a skipped image has no boxes: send state labelled to save boxes")
		}
	default:
		return nil, vise.Errorf(vise.CodeInvalid, "state %q: save as labelled (boxes; none for no defect) or skipped", req.State)
	}
	if err := s.store.SaveLabel(ctx, device, msgID, req, by); err != nil {
		return nil, err
	}
	s.log.Info("label saved", "device", device, "msg_id", msgID, "state", req.State, "boxes", len(req.Boxes), "by", by)
	return s.Get(ctx, device, msgID)
}

// checkBoxes refuses boxes a dataset could not use.
func checkBoxes(im *vise.LabelImage, boxes []vise.LabelBox) error {
	if len(boxes) > vise.MaxLabelBoxes {
		return vise.Errorf(vise.CodeTooLarge, "%d boxes, more than %d", len(boxes), vise.MaxLabelBoxes)
	}
	if len(boxes) > 0 && len(im.Classes) == 0 {
		return vise.Errorf(vise.CodeInvalid, "the image's model %s %s (sha256 %s) is not in the registry, so its classes are unknown: register the model, or save the image as no defect or skipped",
			im.Model.Name, im.Model.Version, im.Model.SHA256)
	}
	known := map[string]bool{}
	for _, c := range im.Classes {
		known[c] = true
	}
	for i, b := range boxes {
		n := i + 1
		switch {
		case !known[b.Class]:
			return vise.Errorf(vise.CodeInvalid, "box %d: unknown class %q: the model's classes are %q", n, b.Class, im.Classes)
		case !finite(b.X, b.Y, b.Width, b.Height):
			return vise.Errorf(vise.CodeInvalid, "box %d: coordinates must be numbers", n)
		case b.Width <= 0 || b.Height <= 0:
			return vise.Errorf(vise.CodeInvalid, "box %d has zero area (%gx%g pixels): a box needs a width and a height", n, b.Width, b.Height)
		case b.X < 0 || b.Y < 0 || b.X+b.Width > float64(im.Width) || b.Y+b.Height > float64(im.Height):
			return vise.Errorf(vise.CodeInvalid, "box %d (x %g, y %g, %gx%g) is outside the image (%dx%d pixels)", n, b.X, b.Y, b.Width, b.Height, im.Width, im.Height)
		}
	}
	return nil
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// ParseWindow reads an uncertainty window written "LO-HI", e.g.
// "0.25-0.6" (both in 0..1, LO <= HI), or "off" for none; "" is the default.
func ParseWindow(s string) (*vise.ConfidenceWindow, error) {
	switch s {
	case "":
		w := vise.DefaultUncertainWindow
		return &w, nil
	case "off":
		return &vise.ConfidenceWindow{Lo: 1, Hi: 0}, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	l, err1 := strconv.ParseFloat(lo, 64)
	h, err2 := strconv.ParseFloat(hi, 64)
	if !ok || err1 != nil || err2 != nil || l < 0 || h > 1 || l > h {
		return nil, vise.Errorf(vise.CodeInvalid, "uncertainty window %q: write LO-HI with 0 <= LO <= HI <= 1, e.g. 0.25-0.6, or off", s)
	}
	return &vise.ConfidenceWindow{Lo: l, Hi: h}, nil
}
