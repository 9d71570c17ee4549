package quantize

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/onnx"
	"github.com/vise-edge/vise/onnx/onnxpb"
)

const shipped = "../samples/models/metal-tags.onnx"

func readModel(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flatRanges gives every tensor the same range: enough to build a model
// whose structure the tests check.
func flatRanges(m *Model) map[string]Range {
	r := map[string]Range{}
	for _, t := range m.Tensors() {
		r[t] = Range{Min: -1, Max: 6}
	}
	return r
}

func quantized(t *testing.T) []byte {
	t.Helper()
	m, err := Load(readModel(t, shipped), 640)
	if err != nil {
		t.Fatal(err)
	}
	q, err := m.Quantize(flatRanges(m), Record{Method: MinMax, CalibrationImages: 2, CalibrationDigest: "d", ParentSHA256: "p"})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func parse(t *testing.T, b []byte) *onnxpb.ModelProto {
	t.Helper()
	pb := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, pb); err != nil {
		t.Fatal(err)
	}
	return pb
}

// The quantized model keeps the contract (input, output, names) so
// everything else runs it unchanged, and records how it was made.
func TestQuantizeKeepsContract(t *testing.T) {
	q := quantized(t)
	info, err := onnx.Read(bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	got, err := infer.CheckContract(info, 640)
	if err != nil {
		t.Fatal(err)
	}
	want, err := infer.ReadContract(shipped, 640)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("contract changed (-float +int8):\n%s", diff)
	}
	var rec Record
	if err := json.Unmarshal([]byte(info.Metadata[MetadataKey]), &rec); err != nil {
		t.Fatalf("metadata %s = %q: %v", MetadataKey, info.Metadata[MetadataKey], err)
	}
	if rec.Method != MinMax || rec.WeightBits != 7 || rec.QuantizedNodes == 0 || rec.ParentSHA256 != "p" {
		t.Errorf("record = %+v", rec)
	}
}

// Every Conv runs on int8 weights but the first, whose 3 input channels
// ONNX Runtime's fast INT8 kernel does not take: it reads the float image
// and its output is quantized. The Detect head's decoding after its last
// convolutions stays float, and so does the output.
func TestQuantizePlacesQDQ(t *testing.T) {
	pb := parse(t, quantized(t))
	producer := map[string]*onnxpb.NodeProto{}
	ops := map[string]int{}
	for _, n := range pb.GetGraph().GetNode() {
		ops[n.GetOpType()]++
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	consumers := map[string]string{}
	for _, n := range pb.GetGraph().GetNode() {
		for _, x := range n.GetInput() {
			consumers[x] += n.GetOpType()
		}
	}
	floatConvs := 0
	for _, n := range pb.GetGraph().GetNode() {
		in := n.GetInput()
		switch n.GetOpType() {
		case "Conv":
			if in[0] == "images" {
				floatConvs++
				if p := producer[in[1]]; p != nil {
					t.Errorf("first conv %s reads weights made by %s; want its float initializer", n.GetName(), p.GetOpType())
				}
				if q := consumers[n.GetOutput()[0]]; q != "QuantizeLinear" {
					t.Errorf("first conv %s output goes to %q; want a QuantizeLinear", n.GetName(), q)
				}
				continue
			}
			if p := producer[in[0]]; p == nil || p.GetOpType() != "DequantizeLinear" {
				t.Errorf("conv %s reads %s, not a dequantized activation", n.GetName(), in[0])
			}
			if p := producer[in[1]]; p == nil || p.GetOpType() != "DequantizeLinear" {
				t.Errorf("conv %s reads weights %s, not int8 ones", n.GetName(), in[1])
			}
		case "Softplus", "Reshape", "Div", "Sub":
			for _, x := range in {
				if p := producer[x]; p != nil && p.GetOpType() == "DequantizeLinear" {
					t.Errorf("head decoding %s %s reads quantized %s", n.GetOpType(), n.GetName(), x)
				}
			}
		}
	}
	if ops["Conv"] != 25 || ops["QuantizeLinear"] == 0 || floatConvs != 1 {
		t.Errorf("ops = %v, %d convs on the image; want the 25 Convs kept, with QuantizeLinear nodes, one on the image", ops, floatConvs)
	}
	if p := producer["output0"]; p == nil || p.GetOpType() != "Concat" {
		t.Errorf("output0 is made by %v; want the float Concat", p)
	}
}

// Weights are int8 in the 7-bit range and give back the float weights to
// within half a step of their channel's scale.
func TestWeightsPerChannel(t *testing.T) {
	w := []float32{0.5, -0.25, 0.125, 0, 2, -1, 0.01, 0.5} // two channels of four
	for _, bits := range []int{7, 8} {
		cw, err := weights(floatTensor("w", []int64{2, 4}, w), bits)
		if err != nil {
			t.Fatal(err)
		}
		qmax := float32(int(1)<<(bits-1) - 1)
		if diff := cmp.Diff([]float32{0.5 / qmax, 2 / qmax}, cw.scales); diff != "" {
			t.Errorf("%d bits: scales:\n%s", bits, diff)
		}
		for i, q := range cw.quantized {
			v := float32(int8(q)) * cw.scales[i/4]
			if math.Abs(float64(v-w[i])) > float64(cw.scales[i/4])/2+1e-7 || math.Abs(float64(int8(q))) > float64(qmax) {
				t.Errorf("%d bits: w[%d] = %g quantized to %d (%g)", bits, i, w[i], int8(q), v)
			}
		}
	}
}

func TestUint8Params(t *testing.T) {
	tests := []struct {
		r    Range
		want actParams
	}{
		{Range{0, 1}, actParams{scale: 1.0 / 255, zero: 0}},
		{Range{-1, 3}, actParams{scale: 4.0 / 255, zero: 64}},
		{Range{2, 5.1}, actParams{scale: 5.1 / 255, zero: 0}}, // widened to hold 0
		{Range{-0.3, -0.1}, actParams{scale: 0.3 / 255, zero: 255}},
		{Range{0, 0}, actParams{scale: 1, zero: 0}},
	}
	for _, tt := range tests {
		got := uint8Params(tt.r)
		if math.Abs(float64(got.scale-tt.want.scale)) > 1e-7 || got.zero != tt.want.zero {
			t.Errorf("uint8Params(%v) = %+v; want %+v", tt.r, got, tt.want)
		}
	}
}

// MinMax keeps an outlier in the range; Percentile drops it.
func TestCalibrate(t *testing.T) {
	data := make([]float32, 100000)
	for i := range data {
		data[i] = float32(i%1000) / 1000 // 0 .. 0.999
	}
	data[7] = 50 // one outlier
	pass := func(visit Visit) error {
		visit("x", data)
		visit("unused", []float32{1e9})
		return nil
	}
	tests := []struct {
		method       Method
		wantMaxAbove float32
		wantMaxBelow float32
	}{
		{MinMax, 49.9, 50.1},
		{Percentile, 0.9, 1.1},
	}
	for _, tt := range tests {
		got, err := Calibrate([]string{"x"}, tt.method, 99.99, pass)
		if err != nil {
			t.Fatal(err)
		}
		if r := got["x"]; r.Min > 0 || r.Min < -0.02 || r.Max < tt.wantMaxAbove || r.Max > tt.wantMaxBelow {
			t.Errorf("%s: range %+v; want max in (%g, %g)", tt.method, r, tt.wantMaxAbove, tt.wantMaxBelow)
		}
		if _, ok := got["unused"]; ok {
			t.Errorf("%s: a tensor not asked for got a range", tt.method)
		}
	}
	if _, err := Calibrate([]string{"x", "never"}, MinMax, 0, pass); err == nil || !strings.Contains(err.Error(), `never saw tensor "never"`) {
		t.Errorf("a tensor never observed: err = %v", err)
	}
}

// A model already quantized, off the contract or too old is refused with
// the reason.
func TestLoadRefuses(t *testing.T) {
	float := readModel(t, shipped)
	withQDQ := func() []byte { // QDQ nodes, no metadata record
		pb := parse(t, quantized(t))
		var kept []*onnxpb.StringStringEntryProto
		for _, p := range pb.MetadataProps {
			if p.GetKey() != MetadataKey {
				kept = append(kept, p)
			}
		}
		pb.MetadataProps = kept
		b, _ := proto.Marshal(pb)
		return b
	}
	oldOpset := func() []byte {
		pb := parse(t, float)
		pb.OpsetImport[0].Version = proto.Int64(11)
		b, _ := proto.Marshal(pb)
		return b
	}
	offContract := func() []byte {
		pb := parse(t, float)
		pb.Graph.Output[0].Type.GetTensorType().Shape.Dim = pb.Graph.Output[0].Type.GetTensorType().Shape.Dim[:2]
		b, _ := proto.Marshal(pb)
		return b
	}
	tests := []struct {
		name  string
		model []byte
		want  string
		is    error
	}{
		{"already quantized (metadata)", quantized(t), "already quantized (metadata vise_quantization", ErrAlreadyQuantized},
		{"already quantized (nodes)", withQDQ(), "already quantized (it has a QuantizeLinear node", ErrAlreadyQuantized},
		{"opset 11", oldOpset(), "opset 11; per-channel quantization needs opset >= 13", nil},
		{"off the contract", offContract(), "does not fit the YOLOv8 contract", nil},
		{"not ONNX", []byte("hello"), "read model", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.model, 640)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v; want errors.Is %v", err, tt.is)
			}
		})
	}
}

// The probe model exposes every tensor to calibrate as an output, and only
// adds outputs.
func TestProbeModel(t *testing.T) {
	m, err := Load(readModel(t, shipped), 640)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.ProbeModel()
	if err != nil {
		t.Fatal(err)
	}
	pb := parse(t, b)
	var outs []string
	for _, o := range pb.GetGraph().GetOutput() {
		outs = append(outs, o.GetName())
	}
	want := append([]string{"output0"}, m.Tensors()...)
	if diff := cmp.Diff(want, outs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if len(m.Tensors()) < 25 || m.Tensors()[0] != "/stem/stem.0/stem.0.0/Conv_output_0" {
		t.Errorf("tensors = %d, first %q; want at least one per Conv, the first Conv's output first (its input stays float)", len(m.Tensors()), m.Tensors()[0])
	}
}

// Convs ONNX Runtime's symmetric INT8 kernel does not take stay float.
func TestFastInt8Conv(t *testing.T) {
	conv := func(group int64) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String("Conv"), Attribute: []*onnxpb.AttributeProto{
			{Name: proto.String("group"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(group)}}}
	}
	tests := []struct {
		name  string
		group int64
		dims  []int64
		want  bool
	}{
		{"RGB input, 3 channels", 1, []int64{16, 3, 3, 3}, false},
		{"grey input, 1 channel", 1, []int64{16, 1, 3, 3}, false},
		{"16 channels", 1, []int64{32, 16, 3, 3}, true},
		{"1x1, 64 channels", 1, []int64{32, 64, 1, 1}, true},
		{"depthwise, 32 groups", 32, []int64{32, 1, 3, 3}, true},
		{"depthwise, 8 groups", 8, []int64{8, 1, 3, 3}, false},
		{"grouped, 4 channels a group", 2, []int64{8, 4, 3, 3}, false},
		{"no kernel dims", 1, []int64{16}, false},
	}
	for _, tt := range tests {
		if got := fastInt8Conv(conv(tt.group), floatTensor("w", tt.dims, nil)); got != tt.want {
			t.Errorf("%s: fastInt8Conv = %v; want %v", tt.name, got, tt.want)
		}
	}
}
