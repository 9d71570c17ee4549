package datasets

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vise-edge/vise"
)

// Create makes a new version of name: the base version's items, plus (and
// replacing ones of the same name) the labelled images of the labelling
// queue that match the request. A filter that selects nothing is an error,
// never an empty or unchanged version.
func (s *Service) Create(ctx context.Context, name string, req vise.CreateDatasetRequest, by string) (*vise.DatasetVersion, bool, error) {
	if err := vise.ValidateName("dataset", name); err != nil {
		return nil, false, err
	}
	if req.SplitBy != "" && req.SplitBy != "shot" && req.SplitBy != "device" {
		return nil, false, vise.Errorf(vise.CodeInvalid, "split_by %q: use shot (each image its own shot) or device", req.SplitBy)
	}
	m := &vise.DatasetManifest{}
	dv := vise.DatasetVersion{Name: name, CreatedBy: by}
	if req.Base != "" {
		bname, bversion, err := ParseRef(req.Base)
		if err != nil {
			return nil, false, err
		}
		base, err := s.Get(ctx, bname, bversion)
		if err != nil {
			return nil, false, err
		}
		if m, err = s.Manifest(ctx, base); err != nil {
			return nil, false, err
		}
		dv.Base = base.Ref()
	}
	var since time.Time
	if req.Since != nil {
		since = *req.Since
	}
	ims, err := s.store.LabelledImages(ctx, since, req.Device, req.Model)
	if err != nil {
		return nil, false, err
	}
	if len(ims) == 0 {
		return nil, false, vise.Errorf(vise.CodeInvalid, "no labelled images match (%s): label some on the dashboard's Labelling page or widen the filter; no version was made", describe(req))
	}
	items := map[string]vise.DatasetItem{}
	for _, it := range m.Items {
		items[it.Name] = it
	}
	classes := map[string]int{}
	for i, c := range m.Classes {
		classes[c] = i
	}
	for _, im := range ims {
		it := item(im, m, classes)
		it.Split = splitOf(splitKey(im, req.SplitBy))
		items[it.Name] = it
	}
	m.Items = m.Items[:0]
	for _, it := range items {
		m.Items = append(m.Items, it)
	}
	dv.Source = fmt.Sprintf("%d labelled images (%s)", len(ims), describe(req))
	if dv.Base != "" {
		dv.Source = dv.Base + " + " + dv.Source
	}
	return s.finish(ctx, dv, m)
}

// splitKey is what keeps images together in one split: the device, or
// the camera shot (a device's crops of one photograph look alike and must
// not straddle the split), known by the device's file name of the image.
func splitKey(im vise.LabelImage, by string) string {
	switch {
	case by == "device":
		return im.Device
	case im.ImageName != "":
		return im.Device + "/" + Shot(im.ImageName)
	}
	return im.Device + "/" + im.MsgID
}

// item turns a labelled image into a dataset item, adding classes the
// manifest does not have yet.
func item(im vise.LabelImage, m *vise.DatasetManifest, classes map[string]int) vise.DatasetItem {
	ext := strings.ToLower(extension(im.ImageName))
	if ext != ".png" {
		ext = ".jpg"
	}
	model := im.Model
	it := vise.DatasetItem{Name: im.Device + "_" + im.MsgID + ext, SHA256: im.ImageSHA256, Width: im.Width, Height: im.Height,
		Boxes: []vise.DatasetBox{}, Source: vise.DatasetSource{Device: im.Device, MsgID: im.MsgID, Component: im.Component, Image: im.ImageName,
			ComponentVersion: im.ComponentVersion, PartID: im.PartID, Model: &model, CapturedAt: im.CapturedAt, LabelledBy: im.LabelledBy, LabelledAt: im.LabelledAt}}
	w, h := float64(im.Width), float64(im.Height)
	for _, b := range im.Boxes {
		c, ok := classes[b.Class]
		if !ok {
			c = len(m.Classes)
			classes[b.Class] = c
			m.Classes = append(m.Classes, b.Class)
		}
		it.Boxes = append(it.Boxes, vise.DatasetBox{Class: c, CX: yolo((b.X + b.Width/2) / w), CY: yolo((b.Y + b.Height/2) / h), W: yolo(b.Width / w), H: yolo(b.Height / h)})
	}
	return it
}

// yolo rounds a normalised coordinate to the 6 decimals of a YOLO label
// file, so an exported version imports again to the same digest.
func yolo(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func describe(req vise.CreateDatasetRequest) string {
	var parts []string
	if req.Since != nil {
		parts = append(parts, "since "+req.Since.UTC().Format(time.RFC3339))
	}
	if req.Device != "" {
		parts = append(parts, "device "+req.Device)
	}
	if req.Model != "" {
		parts = append(parts, "model "+req.Model)
	}
	if len(parts) == 0 {
		return "all labelled"
	}
	return strings.Join(parts, ", ")
}
