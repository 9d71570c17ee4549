package vise

import (
	"fmt"
	"strconv"
)

// ParseYOLOBox parses the fields of one line of a YOLO label file,
// "class cx cy w h" with coordinates normalised to 0..1, checked as 'vise
// dataset check' does. classes bounds the class id (0..classes-1); 0 leaves
// it unbounded, for a reader that does not know the dataset's classes.
func ParseYOLOBox(fields []string, classes int) (DatasetBox, error) {
	if len(fields) != 5 {
		return DatasetBox{}, fmt.Errorf("%d values, want 5 (class cx cy w h)", len(fields))
	}
	c, err := strconv.Atoi(fields[0])
	if err != nil || c < 0 || classes > 0 && c >= classes {
		if classes > 0 {
			return DatasetBox{}, fmt.Errorf("class %q is not one of 0..%d", fields[0], classes-1)
		}
		return DatasetBox{}, fmt.Errorf("class %q is not a whole number of at least 0", fields[0])
	}
	var v [4]float64
	for i, s := range fields[1:] {
		v[i], err = strconv.ParseFloat(s, 64)
		if err != nil || !(v[i] >= 0 && v[i] <= 1) || (i >= 2 && v[i] == 0) { // !(…) refuses NaN too
			return DatasetBox{}, fmt.Errorf("%s %q is not a normalised coordinate (0..1)", []string{"cx", "cy", "w", "h"}[i], s)
		}
	}
	return DatasetBox{Class: c, CX: v[0], CY: v[1], W: v[2], H: v[3]}, nil
}
