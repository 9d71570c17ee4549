package datasets

import (
	"strings"
	"testing"

	"github.com/vise-edge/vise"
)

func TestParseRef(t *testing.T) {
	for _, c := range []struct {
		in      string
		name    string
		version int
		bad     bool
	}{
		{"metal-tags@3", "metal-tags", 3, false},
		{"metal-tags", "metal-tags", 0, false},
		{"metal-tags@0", "", 0, true},
		{"metal-tags@x", "", 0, true},
		{"Metal@1", "", 0, true},
		{"", "", 0, true},
	} {
		name, v, err := ParseRef(c.in)
		if (err != nil) != c.bad || (!c.bad && (name != c.name || v != c.version)) {
			t.Errorf("%q: %q %d %v", c.in, name, v, err)
		}
	}
}

func TestShotAndSplit(t *testing.T) {
	a, b := Shot("image-2020-04-22-10-15-16-00-cropped-left-top.jpg"), Shot("image-2020-04-22-10-15-16-00-cropped-right-bottom.jpg")
	if a != "image-2020-04-22-10-15-16-00" || a != b {
		t.Errorf("crops of one shot: %q %q", a, b)
	}
	if got := Shot("tag-0042.jpg"); got != "tag-0042" {
		t.Errorf("plain name: %q", got)
	}
	val := 0
	for i := range 1000 {
		if splitOf("shot-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26))) == vise.SplitVal {
			val++
		}
	}
	if val < 150 || val > 250 {
		t.Errorf("%d of 1000 keys in val, want about a fifth", val)
	}
}

// Each bad import is refused naming the image, before anything is stored.
func TestCheckImport(t *testing.T) {
	sha := strings.Repeat("a", 64)
	good := vise.DatasetItem{Name: "a.jpg", SHA256: sha, Boxes: []vise.DatasetBox{{Class: 0, CX: .5, CY: .5, W: .1, H: .1}}}
	with := func(f func(it *vise.DatasetItem)) []vise.DatasetItem {
		it := good
		it.Boxes = append([]vise.DatasetBox(nil), good.Boxes...) // not good's own
		f(&it)
		return []vise.DatasetItem{it}
	}
	for _, c := range []struct {
		name string
		req  vise.ImportDatasetRequest
		says string
	}{
		{"no classes", vise.ImportDatasetRequest{Items: []vise.DatasetItem{good}}, "no classes"},
		{"no images", vise.ImportDatasetRequest{Classes: []string{"scratch"}}, "no images to import"},
		{"two classes of one name", vise.ImportDatasetRequest{Classes: []string{"scratch", "scratch"}, Items: []vise.DatasetItem{good}}, "unique"},
		{"two images of one name", vise.ImportDatasetRequest{Classes: []string{"scratch"}, Items: []vise.DatasetItem{good, good}}, "two images of one name"},
		{"path in the name", vise.ImportDatasetRequest{Classes: []string{"scratch"}, Items: with(func(it *vise.DatasetItem) { it.Name = "../a.jpg" })}, "plain file name"},
		{"not an image name", vise.ImportDatasetRequest{Classes: []string{"scratch"}, Items: with(func(it *vise.DatasetItem) { it.Name = "a.txt" })}, ".jpg or .png"},
		{"bad sha256", vise.ImportDatasetRequest{Classes: []string{"scratch"}, Items: with(func(it *vise.DatasetItem) { it.SHA256 = "xyz" })}, "not a sha256"},
		{"class out of range", vise.ImportDatasetRequest{Classes: []string{"scratch"}, Items: with(func(it *vise.DatasetItem) { it.Boxes[0].Class = 1 })}, "box 1"},
		{"zero width", vise.ImportDatasetRequest{Classes: []string{"scratch"}, Items: with(func(it *vise.DatasetItem) { it.Boxes = []vise.DatasetBox{{CX: .5, CY: .5, H: .1}} })}, "box 1"},
		{"outside", vise.ImportDatasetRequest{Classes: []string{"scratch"}, Items: with(func(it *vise.DatasetItem) { it.Boxes = []vise.DatasetBox{{CX: 1.5, CY: .5, W: .1, H: .1}} })}, "box 1"},
		{"bad split", vise.ImportDatasetRequest{Classes: []string{"scratch"}, Items: with(func(it *vise.DatasetItem) { it.Split = "test" })}, `split "test"`},
	} {
		err := checkImport(c.req)
		if vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want invalid saying %q", c.name, err, c.says)
		}
	}
	if err := checkImport(vise.ImportDatasetRequest{Classes: []string{"scratch"}, Items: []vise.DatasetItem{good}}); err != nil {
		t.Errorf("a good import: %v", err)
	}
}

// Labelled images split by camera shot keep a shot's crops together (per
// device); split by device keep a device's images together.
func TestSplitKey(t *testing.T) {
	im := func(device, name, id string) vise.LabelImage {
		return vise.LabelImage{Device: device, ImageName: name, MsgID: id}
	}
	for _, c := range []struct {
		name string
		a, b vise.LabelImage
		by   string
		same bool
	}{
		{"crops of one shot", im("cam-1", "s1-cropped-left-top.jpg", "m1"), im("cam-1", "s1-cropped-right-top.jpg", "m2"), "shot", true},
		{"two shots", im("cam-1", "s1-cropped-left-top.jpg", "m1"), im("cam-1", "s2-cropped-left-top.jpg", "m2"), "shot", false},
		{"one shot, two devices", im("cam-1", "s1.jpg", "m1"), im("cam-2", "s1.jpg", "m2"), "shot", false},
		{"no file name: each image", im("cam-1", "", "m1"), im("cam-1", "", "m2"), "shot", false},
		{"one device", im("cam-1", "s1.jpg", "m1"), im("cam-1", "s2.jpg", "m2"), "device", true},
		{"two devices", im("cam-1", "s1.jpg", "m1"), im("cam-2", "s1.jpg", "m1"), "device", false},
	} {
		if got := splitKey(c.a, c.by) == splitKey(c.b, c.by); got != c.same {
			t.Errorf("%s: same key %v, want %v", c.name, got, c.same)
		}
	}
}
