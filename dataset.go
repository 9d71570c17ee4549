package vise

import (
	"strconv"
	"time"
)

// EventDatasetCreated is recorded for each new dataset version.
const EventDatasetCreated = "dataset.created"

// Dataset splits.
const (
	SplitTrain = "train"
	SplitVal   = "val"
)

// DatasetVersion is one immutable version of a named dataset. Its Digest is
// the sha256 of its manifest (a DatasetManifest, kept in the blob store),
// which names every image by its sha256: the version is content-addressed.
type DatasetVersion struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Digest    string    `json:"digest"`
	Base      string    `json:"base,omitempty"` // NAME@VERSION it was made from
	Images    int       `json:"images"`
	Boxes     int       `json:"boxes"`
	Train     int       `json:"train"`
	Val       int       `json:"val"`
	Bytes     int64     `json:"bytes"` // the images' total size
	Classes   []string  `json:"classes"`
	Source    string    `json:"source"` // what it was made of, for people
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Ref is NAME@VERSION.
func (d *DatasetVersion) Ref() string { return d.Name + "@" + strconv.Itoa(d.Version) }

// DatasetManifest is a dataset version's content: the class names and
// the items, sorted by name. Its JSON's sha256 is the version's digest.
type DatasetManifest struct {
	Schema  int           `json:"schema"`
	Classes []string      `json:"classes"`
	Items   []DatasetItem `json:"items"`
}

// DatasetItem is one image of a dataset with its boxes and where it came
// from.
type DatasetItem struct {
	Name   string        `json:"name"` // file name under images/
	SHA256 string        `json:"sha256"`
	Width  int           `json:"width"`
	Height int           `json:"height"`
	Split  string        `json:"split"` // SplitTrain or SplitVal
	Boxes  []DatasetBox  `json:"boxes"`
	Source DatasetSource `json:"source"`
}

// DatasetBox is a YOLO box: a class index and the centre and size,
// normalised to 0..1 of the image.
type DatasetBox struct {
	Class int     `json:"class"`
	CX    float64 `json:"cx"`
	CY    float64 `json:"cy"`
	W     float64 `json:"w"`
	H     float64 `json:"h"`
}

// DatasetSource is an item's provenance: an imported file, or an image a
// device sent back and a person labelled.
type DatasetSource struct {
	Imported  string `json:"imported,omitempty"` // the DIR's file name, for imports
	Image     string `json:"image,omitempty"`    // the device's file name of the image
	Device    string `json:"device,omitempty"`
	MsgID     string `json:"msg_id,omitempty"`
	Component string `json:"component,omitempty"`
	// ComponentVersion and PartID are what the device said about the
	// image: the inference component's version, the part a trigger named.
	ComponentVersion string      `json:"component_version,omitempty"`
	PartID           string      `json:"part_id,omitempty"`
	Model            *LabelModel `json:"model,omitempty"`
	CapturedAt       *time.Time  `json:"captured_at,omitempty"`
	LabelledBy       string      `json:"labelled_by,omitempty"`
	LabelledAt       *time.Time  `json:"labelled_at,omitempty"`
}

// CreateDatasetRequest makes a new version of a dataset from a base
// version (optional) plus the labelled images of the labelling queue that
// match the filter. SplitBy is "shot" (default: the crops of one camera
// shot, by the device's file name, stay together) or "device" (each
// device's images stay together).
type CreateDatasetRequest struct {
	Base    string     `json:"base,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
	Device  string     `json:"device,omitempty"`
	Model   string     `json:"model,omitempty"`
	SplitBy string     `json:"split_by,omitempty"`
}

// ImportDatasetRequest makes a new version from items whose images are
// uploaded already (PUT /v1/artifacts).
type ImportDatasetRequest struct {
	Classes []string      `json:"classes"`
	Items   []DatasetItem `json:"items"`
}
