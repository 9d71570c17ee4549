package quantize

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/vise-edge/vise/onnx/onnxpb"
)

// actParams are an activation's uint8 quantization: real = scale * (q - zero).
type actParams struct {
	scale float32
	zero  uint8
}

// uint8Params maps a range onto 0..255. The range is widened to hold 0,
// which must be exact (padding and ReLU-like zeros).
func uint8Params(r Range) actParams {
	lo, hi := min(r.Min, 0), max(r.Max, 0)
	if hi-lo < 1e-9 {
		return actParams{scale: 1}
	}
	s := (hi - lo) / 255
	z := math.Round(float64(-lo / s))
	return actParams{scale: s, zero: uint8(min(255, max(0, z)))}
}

// convWeights are a Conv's weights quantized per output channel.
type convWeights struct {
	quantized []byte // int8
	scales    []float32
	dims      []int64
}

// weights quantizes a float [M, C/group, kH, kW] initializer to int8,
// symmetric per output channel: zero point 0, scale max|w|/qmax, values in
// -qmax..qmax where qmax is 2^(bits-1)-1.
func weights(t *onnxpb.TensorProto, bits int) (convWeights, error) {
	w, err := floats(t)
	if err != nil {
		return convWeights{}, err
	}
	dims := t.GetDims()
	if len(dims) < 2 || dims[0] <= 0 || len(w)%int(dims[0]) != 0 {
		return convWeights{}, fmt.Errorf("weights %s have shape %v; want [M, C, kH, kW]", t.GetName(), dims)
	}
	m, qmax := int(dims[0]), float64(int(1)<<(bits-1)-1)
	per := len(w) / m
	cw := convWeights{quantized: make([]byte, len(w)), scales: make([]float32, m), dims: dims}
	for c := range m {
		ch := w[c*per : (c+1)*per]
		var amax float32
		for _, v := range ch {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		s := amax / float32(qmax)
		if s == 0 {
			s = 1 // an all-zero channel: any scale gives zeros
		}
		cw.scales[c] = s
		for i, v := range ch {
			cw.quantized[c*per+i] = byte(int8(max(-qmax, min(qmax, math.Round(float64(v/s))))))
		}
	}
	return cw, nil
}

// quantizeBias quantizes a Conv's bias to int32 with the scale ONNX
// Runtime's integer convolution accumulates in: input scale × weight scale.
func quantizeBias(b []float32, xScale float32, wScales []float32) (raw []byte, scales []float32) {
	raw, scales = make([]byte, 4*len(b)), make([]float32, len(b))
	for c, v := range b {
		scales[c] = xScale * wScales[c]
		q := max(math.MinInt32, min(math.MaxInt32, math.Round(float64(v/scales[c]))))
		binary.LittleEndian.PutUint32(raw[4*c:], uint32(int32(q)))
	}
	return raw, scales
}

// floats reads a float initializer, stored either as raw little-endian
// bytes or in float_data.
func floats(t *onnxpb.TensorProto) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("missing initializer")
	}
	if t.GetDataType() != int32(onnxpb.TensorProto_FLOAT) {
		return nil, fmt.Errorf("initializer %s is %v, not float", t.GetName(), onnxpb.TensorProto_DataType(t.GetDataType()))
	}
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("initializer %s is stored outside the model file; save the model with its data inside", t.GetName())
	}
	if raw := t.GetRawData(); len(raw) > 0 {
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	return t.GetFloatData(), nil
}

func floatTensor(name string, dims []int64, v []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return rawTensor(name, onnxpb.TensorProto_FLOAT, dims, raw)
}

func rawTensor(name string, dt onnxpb.TensorProto_DataType, dims []int64, raw []byte) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(dt)), Dims: dims, RawData: raw}
}
