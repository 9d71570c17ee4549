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
// the list, a Conv whose weights are computed, a Mul by a constant).
func activations(n *onnxpb.NodeProto, consts, inits map[string]bool) (acts []string, ok bool) {
	op, in := n.GetOpType(), n.GetInput()
	if !quantizable[op] || n.GetDomain() != "" || len(in) == 0 {
		return nil, false
	}
	switch op {
	case "Conv":
		if len(in) < 2 || consts[in[0]] || !inits[in[1]] || (len(in) > 2 && in[2] != "" && !inits[in[2]]) {
			return nil, false
		}
		return in[:1], true
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

// constants are the initializers and Constant nodes' outputs; inits the
// float initializers alone (the weights and biases a Conv can have
// quantized).
func constants(g *onnxpb.GraphProto) (consts, inits map[string]bool) {
	consts, inits = map[string]bool{}, map[string]bool{}
	for _, t := range g.GetInitializer() {
		consts[t.GetName()] = true
		inits[t.GetName()] = t.GetDataType() == int32(onnxpb.TensorProto_FLOAT)
	}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Constant" && len(n.GetOutput()) == 1 {
			consts[n.GetOutput()[0]] = true
		}
	}
	return consts, inits
}
