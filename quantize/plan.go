package quantize

import "github.com/vise-edge/vise/onnx/onnxpb"

// quantizable are the ops ONNX Runtime's CPU provider runs in INT8 when
// they sit between DequantizeLinear and QuantizeLinear (QLinearConv,
// QLinearMul, QLinearAdd, QLinearSigmoid, QLinearConcat; Resize and MaxPool
// on uint8 directly).
var quantizable = map[string]bool{"Conv": true, "Mul": true, "Add": true, "Sigmoid": true, "Concat": true, "Resize": true, "MaxPool": true}

// passThrough ops do not change values, only move them: their output takes
// their input's range, so ONNX Runtime can drop the QDQ pair around them.
var passThrough = map[string]bool{"Resize": true, "MaxPool": true}

// plan is what to quantize in a graph.
type plan struct {
	nodes     map[int]bool      // indexes of the nodes to run in INT8
	acts      map[string]bool   // activation tensors that get a Q/DQ pair
	calibrate []string          // tensors whose range calibration measures, in graph order
	shared    map[string]string // tensor -> the tensor whose range it takes
}

// makePlan picks the nodes to run in INT8: every Conv with constant
// weights, and each other quantizable op whose output flows (through
// quantizable ops) into such a Conv, so that the integer kernels pass
// uint8 tensors from one to the next. The Detect head's decoding after its
// last convolutions (Reshape, Slice, Softplus, the box arithmetic, the
// final Concat) feeds no Conv, so it stays float, and with it the output.
func makePlan(g *onnxpb.GraphProto) plan {
	consts, inits := constants(g)
	nodes := g.GetNode()
	p := plan{nodes: map[int]bool{}, acts: map[string]bool{}, shared: map[string]string{}}
	feedsConv := map[string]bool{}
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		acts, ok := activations(n, consts, inits)
		if !ok || len(n.GetOutput()) != 1 || (n.GetOpType() != "Conv" && !feedsConv[n.GetOutput()[0]]) {
			continue
		}
		p.nodes[i] = true
		for _, a := range acts {
			p.acts[a] = true
			feedsConv[a] = true
		}
		if passThrough[n.GetOpType()] {
			p.shared[n.GetOutput()[0]] = acts[0]
		}
	}
	p.calibrate = p.order(g)
	return p
}

// order lists the tensors to calibrate in graph order (inputs first).
func (p plan) order(g *onnxpb.GraphProto) []string {
	var out []string
	add := func(t string) {
		if p.acts[t] && p.shared[t] == "" {
			out = append(out, t)
		}
	}
	for _, in := range g.GetInput() {
		add(in.GetName())
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			add(o)
		}
	}
	return out
}

// activations are the tensors a quantizable node reads that are not
// constants; ok is false when the node cannot be quantized (an op not in
// the list, a Conv whose weights are computed or that ONNX Runtime would
// run slower in INT8, a Mul by a constant).
func activations(n *onnxpb.NodeProto, consts map[string]bool, inits map[string]*onnxpb.TensorProto) (acts []string, ok bool) {
	op, in := n.GetOpType(), n.GetInput()
	if !quantizable[op] || n.GetDomain() != "" || len(in) == 0 {
		return nil, false
	}
	switch op {
	case "Conv":
		if len(in) < 2 || consts[in[0]] || inits[in[1]] == nil || (len(in) > 2 && in[2] != "" && inits[in[2]] == nil) {
			return nil, false
		}
		return in[:1], fastInt8Conv(n, inits[in[1]])
	case "Resize", "MaxPool":
		for _, t := range in[1:] {
			if t != "" && !consts[t] {
				return nil, false
			}
		}
		return in[:1], !consts[in[0]]
	}
	for _, t := range in {
		if t == "" || consts[t] {
			return nil, false
		}
	}
	return in, true
}

// fastInt8Conv tells whether ONNX Runtime runs Conv n with these [M, C,
// kH, kW] weights faster in INT8 than in float. Its x86-64 symmetric INT8
// convolution (MlasConvSym, the vpmaddubsw kernel on AVX2) takes input
// channels in multiples of 4, or a depthwise Conv of a multiple of 16
// groups; others fall back to im2col and a generic GEMM. On YOLOv8's
// first Conv (3 input channels, the largest output) that fallback
// measured 2.2x slower than the float Conv (1.57 ms against 0.70 ms a
// frame in ONNX Runtime's profile), so such a Conv stays float and only
// its output is quantized.
func fastInt8Conv(n *onnxpb.NodeProto, w *onnxpb.TensorProto) bool {
	d := w.GetDims()
	if len(d) < 2 {
		return false
	}
	group := int64(1)
	for _, a := range n.GetAttribute() {
		if a.GetName() == "group" {
			group = a.GetI()
		}
	}
	if group > 1 {
		return d[1] == 1 && d[0] == group && group%16 == 0
	}
	return d[1]%4 == 0
}

// constants are the initializers and Constant nodes' outputs; inits the
// float initializers alone (the weights and biases a Conv can have
// quantized).
func constants(g *onnxpb.GraphProto) (consts map[string]bool, inits map[string]*onnxpb.TensorProto) {
	consts, inits = map[string]bool{}, map[string]*onnxpb.TensorProto{}
	for _, t := range g.GetInitializer() {
		consts[t.GetName()] = true
		if t.GetDataType() == int32(onnxpb.TensorProto_FLOAT) {
			inits[t.GetName()] = t
		}
	}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Constant" && len(n.GetOutput()) == 1 {
			consts[n.GetOutput()[0]] = true
		}
	}
	return consts, inits
}
