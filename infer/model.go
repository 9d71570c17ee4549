package infer

import (
	"fmt"
	"os"

	"github.com/vise-edge/vise/onnx"
)

// Contract is a model's fit to the YOLOv8 export contract: input
// [1,3,H,W] float32, output [1,4+nc,N] float32.
type Contract struct {
	Input, Output string
	Width, Height int
	Classes       int
	Anchors       int // N; 0 if dynamic (known after the first run)
	Names         []string
}

// ReadContract reads a model file and checks it against the contract.
// size is used for a dynamic input height/width.
func ReadContract(path string, size int) (*Contract, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	info, err := onnx.Read(f)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return CheckContract(info, size)
}

// CheckContract refuses a model that does not fit, naming the shapes found.
func CheckContract(info *onnx.Info, size int) (*Contract, error) {
	if len(info.Inputs) != 1 || len(info.Outputs) != 1 {
		return nil, fmt.Errorf("model has %d inputs and %d outputs; the YOLOv8 contract has one of each (input [1,3,H,W], output [1,4+nc,N])",
			len(info.Inputs), len(info.Outputs))
	}
	in, out := info.Inputs[0], info.Outputs[0]
	bad := func(why string) error {
		return fmt.Errorf("model does not fit the YOLOv8 contract: %s (found input %s %s %s, output %s %s %s)",
			why, in.Name, in.ElemType, in.ShapeString(), out.Name, out.ElemType, out.ShapeString())
	}
	if in.ElemType != "float32" || out.ElemType != "float32" {
		return nil, bad("input and output must be float32")
	}
	if len(in.Shape) != 4 || !fixedOr(in.Shape[0], 1) || !fixed(in.Shape[1], 3) {
		return nil, bad("input must be [1,3,H,W]")
	}
	if len(out.Shape) != 3 || !fixedOr(out.Shape[0], 1) || out.Shape[1].Value < 5 {
		return nil, bad("output must be [1,4+nc,N] with at least one class")
	}
	c := &Contract{Input: in.Name, Output: out.Name, Height: dim(in.Shape[2], size), Width: dim(in.Shape[3], size),
		Classes: int(out.Shape[1].Value) - 4, Anchors: max(0, int(out.Shape[2].Value)), Names: info.ClassNames}
	if c.Width <= 0 || c.Height <= 0 {
		return nil, bad("input height and width are dynamic; set the input size")
	}
	if len(c.Names) > 0 && len(c.Names) != c.Classes {
		return nil, bad(fmt.Sprintf("the model names %d classes but its output has %d", len(c.Names), c.Classes))
	}
	return c, nil
}

func fixed(d onnx.Dim, v int64) bool   { return d.Param == "" && d.Value == v }
func fixedOr(d onnx.Dim, v int64) bool { return d.Value == v || d.Value < 0 } // a dynamic batch is run as 1

func dim(d onnx.Dim, size int) int {
	if d.Value > 0 {
		return int(d.Value)
	}
	return size
}
