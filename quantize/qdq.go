package quantize

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/vise-edge/vise/onnx/onnxpb"
)

// Quantize writes the QDQ model: ranges must hold every tensor of Tensors
// (Calibrate's result); rec is recorded in the model's metadata under
// MetadataKey (its QuantizedNodes and descriptions are filled in here; a
// WeightBits of 0 means 7).
func (m *Model) Quantize(ranges map[string]Range, rec Record) ([]byte, error) {
	if rec.WeightBits == 0 {
		rec.WeightBits = 7
	}
	if rec.WeightBits != 7 && rec.WeightBits != 8 {
		return nil, fmt.Errorf("weight bits %d: use 7 (any x86-64) or 8 (CPUs with VNNI, ARM)", rec.WeightBits)
	}
	pb := proto.Clone(m.pb).(*onnxpb.ModelProto)
	g := pb.GetGraph()
	e := editor{g: g, inits: map[string]*onnxpb.TensorProto{}, params: map[string]actParams{}, bits: rec.WeightBits}
	for _, t := range g.GetInitializer() {
		e.inits[t.GetName()] = t
	}
	for t := range m.plan.acts {
		r, ok := ranges[m.plan.source(t)]
		if !ok {
			return nil, fmt.Errorf("no calibrated range for tensor %q", t)
		}
		e.params[t] = uint8Params(r)
	}
	var nodes []*onnxpb.NodeProto
	for _, in := range g.GetInput() {
		nodes = append(nodes, e.qdq(in.GetName())...)
	}
	for i, n := range g.GetNode() {
		if m.plan.nodes[i] {
			pre, err := e.rewrite(n)
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, pre...)
		}
		nodes = append(nodes, n)
		for _, o := range n.GetOutput() {
			nodes = append(nodes, e.qdq(o)...)
		}
	}
	g.Node = nodes
	e.dropUnused()
	rec.QuantizedNodes = len(m.plan.nodes)
	rec.Weights = fmt.Sprintf("int8 in a %d-bit range, per output channel, symmetric", rec.WeightBits)
	rec.Activations = "uint8, per tensor, asymmetric"
	js, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	pb.MetadataProps = append(pb.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(MetadataKey), Value: proto.String(string(js))})
	return proto.Marshal(pb)
}

// source is the tensor whose range t takes (itself unless it is the output
// of a pass-through op).
func (p plan) source(t string) string {
	for p.shared[t] != "" {
		t = p.shared[t]
	}
	return t
}

// editor holds the state of one rewrite.
type editor struct {
	g      *onnxpb.GraphProto
	inits  map[string]*onnxpb.TensorProto
	params map[string]actParams
	bits   int // weight bits
}

// qdq returns the QuantizeLinear/DequantizeLinear pair for activation t
// (none if t is not one), adding its scale and zero point.
func (e *editor) qdq(t string) []*onnxpb.NodeProto {
	p, ok := e.params[t]
	if !ok {
		return nil
	}
	scale, zp := t+"_vise_scale", t+"_vise_zp"
	e.add(floatTensor(scale, nil, []float32{p.scale}))
	e.add(rawTensor(zp, onnxpb.TensorProto_UINT8, nil, []byte{p.zero}))
	return []*onnxpb.NodeProto{
		node("QuantizeLinear", t+"_vise_Q", []string{t, scale, zp}, t+"_vise_q", nil),
		node("DequantizeLinear", t+"_vise_DQ", []string{t + "_vise_q", scale, zp}, dq(t), nil),
	}
}

func dq(t string) string { return t + "_vise_dq" }

// rewrite points a quantized node at the dequantized activations and, for
// a Conv, at its int8 weights and int32 bias, returning the nodes that
// must run before it.
func (e *editor) rewrite(n *onnxpb.NodeProto) ([]*onnxpb.NodeProto, error) {
	in := n.GetInput()
	if n.GetOpType() != "Conv" {
		for i, t := range in {
			if _, ok := e.params[t]; ok {
				in[i] = dq(t)
			}
		}
		return nil, nil
	}
	x := e.params[in[0]]
	in[0] = dq(in[0])
	w, err := weights(e.inits[in[1]], e.bits)
	if err != nil {
		return nil, fmt.Errorf("conv %s: %w", n.GetName(), err)
	}
	var pre []*onnxpb.NodeProto
	if e.inits[in[1]+"_vise_quantized"] == nil { // weights shared by two Convs are quantized once
		pre = append(pre, e.dequantize(in[1], in[1], w.quantized, w.scales, onnxpb.TensorProto_INT8, w.dims))
	}
	in[1] += "_vise_dq"
	if len(in) > 2 && in[2] != "" {
		b, err := floats(e.inits[in[2]])
		if err != nil {
			return nil, fmt.Errorf("conv %s bias: %w", n.GetName(), err)
		}
		// The bias's scale depends on this Conv's input, so its integer
		// copy is this Conv's own.
		raw, scales := quantizeBias(b, x.scale, w.scales)
		name := n.GetOutput()[0] + "_vise_bias"
		pre = append(pre, e.dequantize(in[2], name, raw, scales, onnxpb.TensorProto_INT32, []int64{int64(len(b))}))
		in[2] = name + "_vise_dq"
	}
	return pre, nil
}

// dequantize adds the integer initializer of a constant and the per-axis-0
// DequantizeLinear that turns it back into floats for ONNX Runtime to fold
// into its integer kernel.
func (e *editor) dequantize(from, name string, raw []byte, scales []float32, dt onnxpb.TensorProto_DataType, dims []int64) *onnxpb.NodeProto {
	q, s, z := name+"_vise_quantized", name+"_vise_scale", name+"_vise_zp"
	e.add(rawTensor(q, dt, dims, raw))
	e.add(floatTensor(s, []int64{int64(len(scales))}, scales))
	width := map[onnxpb.TensorProto_DataType]int{onnxpb.TensorProto_INT8: 1, onnxpb.TensorProto_INT32: 4}[dt]
	e.add(rawTensor(z, dt, []int64{int64(len(scales))}, make([]byte, width*len(scales))))
	return node("DequantizeLinear", from+"_vise_DQ_"+name, []string{q, s, z}, name+"_vise_dq",
		[]*onnxpb.AttributeProto{{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(0)}})
}

func (e *editor) add(t *onnxpb.TensorProto) {
	e.g.Initializer = append(e.g.Initializer, t)
	e.inits[t.GetName()] = t
}

// dropUnused removes initializers nothing reads any more (the float
// weights that were replaced by int8 ones).
func (e *editor) dropUnused() {
	used := map[string]bool{}
	for _, n := range e.g.GetNode() {
		for _, t := range n.GetInput() {
			used[t] = true
		}
	}
	for _, o := range e.g.GetOutput() {
		used[o.GetName()] = true
	}
	kept := e.g.Initializer[:0]
	for _, t := range e.g.Initializer {
		if used[t.GetName()] {
			kept = append(kept, t)
		}
	}
	e.g.Initializer = kept
}

func node(op, name string, in []string, out string, attrs []*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: []string{out}, Attribute: attrs}
}
