package vise_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
)

func TestParseYOLOBox(t *testing.T) {
	for _, tc := range []struct {
		line    string
		classes int
		want    vise.DatasetBox
		err     string
	}{
		{"1 0.5 0.25 0.1 0.2", 2, vise.DatasetBox{Class: 1, CX: 0.5, CY: 0.25, W: 0.1, H: 0.2}, ""},
		{"7 0.5 0.25 0.1 0.2", 0, vise.DatasetBox{Class: 7, CX: 0.5, CY: 0.25, W: 0.1, H: 0.2}, ""},
		{"0 0.5 0.5 0.1", 1, vise.DatasetBox{}, "4 values, want 5"},
		{"2 0.5 0.5 0.1 0.1", 2, vise.DatasetBox{}, `class "2" is not one of 0..1`},
		{"x 0.5 0.5 0.1 0.1", 0, vise.DatasetBox{}, `class "x" is not a whole number`},
		{"-1 0.5 0.5 0.1 0.1", 0, vise.DatasetBox{}, `class "-1" is not a whole number`},
		{"0 120 80 10 10", 1, vise.DatasetBox{}, `cx "120" is not a normalised coordinate`},
		{"0 0.5 0.5 0 0.1", 1, vise.DatasetBox{}, `w "0" is not a normalised`},
		{"0 0.5 0.5 0.1 NaN", 1, vise.DatasetBox{}, `h "NaN" is not a normalised`},
	} {
		got, err := vise.ParseYOLOBox(strings.Fields(tc.line), tc.classes)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseYOLOBox(%q, %d) error %v, want %q", tc.line, tc.classes, err, tc.err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseYOLOBox(%q) (-want +got):\n%s", tc.line, diff)
		}
	}
}
