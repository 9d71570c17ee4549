package onnx

import "fmt"

func (p *parser) opset(n int64, into map[string]int64) error {
	var domain string
	var version int64
	err := p.fields(n, 0, func(num int, wt wireType, v int64) error {
		switch {
		case num == 1 && wt == wireBytes:
			return p.str(v, &domain)
		case num == 2 && wt == wireVarint:
			version = v
			return nil
		}
		return p.skip(wt, v)
	})
	into[domain] = version
	return err
}

func (p *parser) metadata(n int64, into map[string]string) error {
	var k, val string
	err := p.fields(n, 0, func(num int, wt wireType, v int64) error {
		switch {
		case num == 1 && wt == wireBytes:
			return p.str(v, &k)
		case num == 2 && wt == wireBytes:
			return p.str(v, &val)
		}
		return p.skip(wt, v)
	})
	if len(into) >= maxTensors {
		return fmt.Errorf("invalid ONNX file: more than %d metadata properties", maxTensors)
	}
	into[k] = val
	return err
}

// GraphProto field numbers.
const (
	fGraphInitializer       = 5
	fGraphInput             = 11
	fGraphOutput            = 12
	fGraphSparseInitializer = 15
	fTensorName             = 8 // in TensorProto
)

func (p *parser) graph(n int64, g *graph) error {
	g.initializers = map[string]bool{}
	return p.fields(n, 0, func(num int, wt wireType, v int64) error {
		if wt != wireBytes {
			return p.skip(wt, v)
		}
		switch num {
		case fGraphInput, fGraphOutput:
			if len(g.inputs)+len(g.outputs) >= maxTensors {
				return fmt.Errorf("invalid ONNX file: more than %d graph inputs and outputs", maxTensors)
			}
			t, err := p.valueInfo(v)
			if err != nil {
				return err
			}
			if num == fGraphInput {
				g.inputs = append(g.inputs, t)
			} else {
				g.outputs = append(g.outputs, t)
			}
			return nil
		case fGraphInitializer:
			return p.initializerName(v, g.initializers)
		case fGraphSparseInitializer:
			return p.skip(wt, v)
		}
		return p.skip(wt, v)
	})
}

// initializerName reads a TensorProto's name and skips its (large) data.
func (p *parser) initializerName(n int64, into map[string]bool) error {
	return p.fields(n, 0, func(num int, wt wireType, v int64) error {
		if num == fTensorName && wt == wireBytes {
			var name string
			if err := p.str(v, &name); err != nil {
				return err
			}
			if len(into) < 10*maxTensors {
				into[name] = true
			}
			return nil
		}
		return p.skip(wt, v)
	})
}

// valueInfo reads a ValueInfoProto: name=1, type=2.
func (p *parser) valueInfo(n int64) (Tensor, error) {
	t := Tensor{ElemType: "unknown"}
	err := p.fields(n, 0, func(num int, wt wireType, v int64) error {
		switch {
		case num == 1 && wt == wireBytes:
			return p.str(v, &t.Name)
		case num == 2 && wt == wireBytes:
			return p.typeProto(v, &t)
		}
		return p.skip(wt, v)
	})
	return t, err
}

// typeProto reads a TypeProto: tensor_type=1, sequence_type=4, map_type=5,
// sparse_tensor_type=8, optional_type=9.
func (p *parser) typeProto(n int64, t *Tensor) error {
	return p.fields(n, 0, func(num int, wt wireType, v int64) error {
		if wt != wireBytes {
			return p.skip(wt, v)
		}
		switch num {
		case 1:
			return p.tensorType(v, t)
		case 4:
			t.ElemType = "sequence"
		case 5:
			t.ElemType = "map"
		case 8:
			t.ElemType = "sparse_tensor"
		case 9:
			t.ElemType = "optional"
		}
		return p.skip(wt, v)
	})
}

// tensorType reads TypeProto.Tensor: elem_type=1, shape=2.
func (p *parser) tensorType(n int64, t *Tensor) error {
	return p.fields(n, 0, func(num int, wt wireType, v int64) error {
		switch {
		case num == 1 && wt == wireVarint:
			t.ElemType = elemTypeName(v)
			return nil
		case num == 2 && wt == wireBytes:
			t.Shape = []Dim{} // present but possibly scalar
			return p.shape(v, t)
		}
		return p.skip(wt, v)
	})
}

// shape reads TensorShapeProto: dim=1 (Dimension: dim_value=1, dim_param=2).
func (p *parser) shape(n int64, t *Tensor) error {
	return p.fields(n, 0, func(num int, wt wireType, v int64) error {
		if num != 1 || wt != wireBytes {
			return p.skip(wt, v)
		}
		if len(t.Shape) >= maxDims {
			return fmt.Errorf("invalid ONNX file: tensor %q has more than %d dimensions", t.Name, maxDims)
		}
		d := Dim{Value: -1}
		err := p.fields(v, 0, func(num int, wt wireType, v int64) error {
			switch {
			case num == 1 && wt == wireVarint:
				d.Value = v
				return nil
			case num == 2 && wt == wireBytes:
				return p.str(v, &d.Param)
			}
			return p.skip(wt, v)
		})
		t.Shape = append(t.Shape, d)
		return err
	})
}

var elemTypes = []string{"undefined", "float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "string",
	"bool", "float16", "float64", "uint32", "uint64", "complex64", "complex128", "bfloat16",
	"float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4", "int4", "float4e2m1"}

func elemTypeName(v int64) string {
	if v >= 0 && v < int64(len(elemTypes)) {
		return elemTypes[v]
	}
	return fmt.Sprintf("type%d", v)
}
