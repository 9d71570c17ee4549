// Package quantize turns a float YOLOv8-contract ONNX model into a static
// INT8 one in ONNX's QDQ form: QuantizeLinear/DequantizeLinear pairs around
// the backbone's Conv, Mul, Add, Sigmoid, Concat and Resize nodes, weights
// int8 per output channel (symmetric), activations uint8 per tensor
// (asymmetric) with ranges calibrated on images.
//
// Weights use a 7-bit range (-63..63) by default: on x86-64 CPUs without
// VNNI (AVX2 only) ONNX Runtime multiplies uint8 by int8 with vpmaddubsw,
// whose 16-bit pair sums saturate with full 8-bit weights: with them the
// shipped model lost 0.018 mAP50 on its validation split, with 7-bit
// weights none. Devices with VNNI or ARM can take 8 bits. ONNX Runtime fuses the
// pairs into its integer kernels (QLinearConv and friends). The Detect
// head's decoding after the last convolutions stays float, so boxes keep
// their precision, and the input and output are unchanged: everything that
// runs the float model runs the quantized one.
//
// The package edits the whole model through the types generated from
// onnx.proto (package onnx/onnxpb). It runs nothing: calibration, which
// needs ONNX Runtime, is driven by the caller (vise-infer quantize) through
// Calibrate.
package quantize

import (
	"errors"
	"fmt"

	"github.com/vise-edge/vise"
)

// Method is how activation ranges are taken from calibration data.
type Method string

// The calibration methods.
const (
	// MinMax takes each activation's smallest and largest value seen.
	MinMax Method = "minmax"
	// Percentile drops the most extreme values on each side (the
	// Options.Percentile of them kept), so a rare outlier does not stretch
	// the range and coarsen the steps for every common value.
	Percentile Method = "percentile"
)

// ParseMethod accepts a method's name.
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case MinMax, Percentile:
		return m, nil
	}
	return "", fmt.Errorf("unknown calibration method %q: use %s or %s", s, MinMax, Percentile)
}

// MetadataKey is the model metadata property that records how a model was
// quantized (a JSON Record); its presence marks a model as quantized.
const MetadataKey = vise.QuantizationMetadataKey

// Record is what MetadataKey holds.
type Record struct {
	Method            Method  `json:"method"`
	Percentile        float64 `json:"percentile,omitempty"`
	CalibrationImages int     `json:"calibration_images"`
	CalibrationDigest string  `json:"calibration_digest"`
	ParentSHA256      string  `json:"parent_sha256"`
	WeightBits        int     `json:"weight_bits"`
	Weights           string  `json:"weights"`
	Activations       string  `json:"activations"`
	QuantizedNodes    int     `json:"quantized_nodes"`
}

// ErrAlreadyQuantized refuses to quantize a model twice.
var ErrAlreadyQuantized = errors.New("model is already quantized")

// Range is an activation's calibrated range.
type Range struct{ Min, Max float32 }

// Report is what `vise-infer quantize -o json` prints, and what `vise
// model optimize` reads back.
type Report struct {
	Model             string   `json:"model"`
	Out               string   `json:"out"`
	Method            Method   `json:"method"`
	Percentile        float64  `json:"percentile,omitempty"`
	WeightBits        int      `json:"weight_bits"`
	CalibrationImages int      `json:"calibration_images"`
	CalibrationDigest string   `json:"calibration_digest"`
	QuantizedNodes    int      `json:"quantized_nodes"`
	Tensors           int      `json:"calibrated_tensors"`
	Seconds           float64  `json:"seconds"`
	Warnings          []string `json:"warnings,omitempty"`
}
