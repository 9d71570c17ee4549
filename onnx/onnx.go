// Package onnx reads what the registry needs to know from an ONNX model file
// — inputs, outputs, metadata, class names — by streaming its protobuf
// encoding: large fields such as weights are skipped, never loaded, so a
// model of any size is read in constant memory.
package onnx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Info is what the registry records about a model file.
type Info struct {
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Opsets          map[string]int64 // domain ("" is ai.onnx) -> version
	Inputs          []Tensor         // graph inputs that are not initializers
	Outputs         []Tensor
	Metadata        map[string]string // metadata_props
	ClassNames      []string          // from Metadata["names"]; nil if absent
}

// Tensor is a graph input or output.
type Tensor struct {
	Name     string
	ElemType string // "float32", "int64", ... or "sequence", "map", "unknown"
	Shape    []Dim
}

// Dim is one dimension: a fixed Value, or a symbolic Param ("batch") with
// Value -1, or unknown (Value -1, no Param).
type Dim struct {
	Value int64
	Param string
}

func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value < 0:
		return "?"
	}
	return fmt.Sprint(d.Value)
}

// ShapeString is the shape as "[1,3,640,640]".
func (t Tensor) ShapeString() string {
	parts := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Limits that keep a hostile file from costing much.
const (
	maxString  = 1 << 20
	maxDims    = 1024
	maxTensors = 10000
	maxDepth   = 16
)

// ModelProto field numbers (onnx.proto).
const (
	fModelIRVersion       = 1
	fModelProducerName    = 2
	fModelProducerVersion = 3
	fModelOpsetImport     = 8
	fModelGraph           = 7
	fModelMetadataProps   = 14
)

// Read parses a model from r.
func Read(r io.Reader) (*Info, error) {
	p := &parser{r: bufio.NewReaderSize(r, 64<<10)}
	info := &Info{Opsets: map[string]int64{}, Metadata: map[string]string{}}
	var g graph
	sawGraph := false
	first := true
	err := p.fields(-1, 0, func(num int, wt wireType, n int64) error {
		if first {
			first = false
			// Every ONNX export starts with ir_version; checking it first
			// turns "a JPEG" into a clear error instead of a protobuf puzzle.
			if num != fModelIRVersion || wt != wireVarint {
				return errNotONNX
			}
		}
		switch {
		case num == fModelIRVersion && wt == wireVarint:
			info.IRVersion = n
		case num == fModelProducerName && wt == wireBytes:
			return p.str(n, &info.ProducerName)
		case num == fModelProducerVersion && wt == wireBytes:
			return p.str(n, &info.ProducerVersion)
		case num == fModelOpsetImport && wt == wireBytes:
			return p.opset(n, info.Opsets)
		case num == fModelGraph && wt == wireBytes:
			sawGraph = true
			return p.graph(n, &g)
		case num == fModelMetadataProps && wt == wireBytes:
			return p.metadata(n, info.Metadata)
		default:
			return p.skip(wt, n)
		}
		return nil
	})
	if err != nil {
		if p.off == 0 && errors.Is(err, io.EOF) {
			return nil, errors.New("empty file")
		}
		return nil, err
	}
	if first {
		return nil, errors.New("empty file")
	}
	if !sawGraph {
		return nil, fmt.Errorf("%w: no graph found (is this file an ONNX export?)", errNotONNX)
	}
	info.Inputs, info.Outputs = g.realInputs(), g.outputs
	if s, ok := info.Metadata["names"]; ok {
		names, err := ParseClassNames(s)
		if err != nil {
			return nil, fmt.Errorf("metadata property names: %w", err)
		}
		info.ClassNames = names
	}
	return info, nil
}

var errNotONNX = errors.New("not an ONNX model: the file does not start like an ONNX protobuf (ir_version)")

type graph struct {
	inputs, outputs []Tensor
	initializers    map[string]bool
}

// realInputs drops inputs that are initializers: before IR version 4,
// exporters listed every weight as a graph input too.
func (g *graph) realInputs() []Tensor {
	var out []Tensor
	for _, t := range g.inputs {
		if !g.initializers[t.Name] {
			out = append(out, t)
		}
	}
	return out
}
