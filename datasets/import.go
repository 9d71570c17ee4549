package datasets

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/vise-edge/vise"
)

// MaxImportItems bounds one import.
const MaxImportItems = 200000

// Import makes a new version of name from uploaded images and their YOLO
// boxes. Each image is read back from the blob store for its size; an
// item without a split goes where its camera shot goes.
func (s *Service) Import(ctx context.Context, name string, req vise.ImportDatasetRequest, by string) (*vise.DatasetVersion, bool, error) {
	if err := vise.ValidateName("dataset", name); err != nil {
		return nil, false, err
	}
	if err := checkImport(req); err != nil {
		return nil, false, err
	}
	m := &vise.DatasetManifest{Classes: req.Classes}
	for _, it := range req.Items {
		w, h, err := s.imageSize(ctx, it.SHA256)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", it.Name, err)
		}
		it.Width, it.Height = w, h
		if it.Split == "" {
			it.Split = splitOf(Shot(it.Name))
		}
		if it.Boxes == nil {
			it.Boxes = []vise.DatasetBox{}
		}
		if it.Source == (vise.DatasetSource{}) {
			it.Source.Imported = it.Name // an export's items keep where they came from
		}
		m.Items = append(m.Items, it)
	}
	dv := vise.DatasetVersion{Name: name, CreatedBy: by, Source: fmt.Sprintf("imported, %d images", len(req.Items))}
	return s.finish(ctx, dv, m)
}

// checkImport refuses what a dataset could not hold, naming the item.
func checkImport(req vise.ImportDatasetRequest) error {
	if len(req.Classes) == 0 {
		return vise.Errorf(vise.CodeInvalid, "no classes: a dataset needs its class names (data.yaml names)")
	}
	if len(req.Items) == 0 {
		return vise.Errorf(vise.CodeInvalid, "no images to import; no version was made")
	}
	if len(req.Items) > MaxImportItems {
		return vise.Errorf(vise.CodeTooLarge, "%d images, more than %d in one import", len(req.Items), MaxImportItems)
	}
	names := map[string]bool{}
	for _, c := range req.Classes {
		if c == "" || names["class:"+c] {
			return vise.Errorf(vise.CodeInvalid, "class names must be unique and not empty: %q", req.Classes)
		}
		names["class:"+c] = true
	}
	for _, it := range req.Items {
		if err := checkItem(it, len(req.Classes)); err != nil {
			return vise.Errorf(vise.CodeInvalid, "%s: %w", it.Name, err)
		}
		if names[it.Name] {
			return vise.Errorf(vise.CodeInvalid, "%s: two images of one name", it.Name)
		}
		names[it.Name] = true
	}
	return nil
}

func checkItem(it vise.DatasetItem, classes int) error {
	ext := strings.ToLower(extension(it.Name))
	switch {
	case it.Name == "" || strings.ContainsAny(it.Name, `/\`) || strings.HasPrefix(it.Name, "."):
		return fmt.Errorf("an image name is a plain file name")
	case ext != ".jpg" && ext != ".jpeg" && ext != ".png":
		return fmt.Errorf("an image is a .jpg or .png file")
	case vise.ValidateSHA256(it.SHA256) != nil:
		return fmt.Errorf("sha256 %q is not a sha256", it.SHA256)
	case it.Split != "" && it.Split != vise.SplitTrain && it.Split != vise.SplitVal:
		return fmt.Errorf("split %q: use train or val", it.Split)
	}
	for i, b := range it.Boxes {
		ok := b.Class >= 0 && b.Class < classes
		for _, v := range []float64{b.CX, b.CY, b.W, b.H} {
			ok = ok && !math.IsNaN(v) && v >= 0 && v <= 1
		}
		if !ok || b.W == 0 || b.H == 0 {
			return fmt.Errorf("box %d (class %d, %g %g %g %g): a class of 0..%d and coordinates in 0..1 with a width and a height", i+1, b.Class, b.CX, b.CY, b.W, b.H, classes-1)
		}
	}
	return nil
}
