package quantize

import (
	"bytes"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/onnx"
	"github.com/vise-edge/vise/onnx/onnxpb"
)

// minOpset is the first opset with per-axis (per-channel) DequantizeLinear.
const minOpset = 13

// Model is a float model loaded for quantization.
type Model struct {
	pb       *onnxpb.ModelProto
	Contract *infer.Contract
	plan     plan
}

// Load parses a model and refuses what cannot be quantized: a model off the
// YOLOv8 contract, one already quantized, one with an opset below 13, or
// one with nothing to quantize. size is the input size of a model with a
// dynamic height/width.
func Load(b []byte, size int) (*Model, error) {
	info, err := onnx.Read(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	c, err := infer.CheckContract(info, size)
	if err != nil {
		return nil, err
	}
	pb := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, pb); err != nil {
		return nil, fmt.Errorf("parse model: %w", err)
	}
	if err := checkQuantizable(pb); err != nil {
		return nil, err
	}
	m := &Model{pb: pb, Contract: c}
	m.plan = makePlan(pb.GetGraph())
	if len(m.plan.nodes) == 0 {
		return nil, fmt.Errorf("model has no Conv reachable from its input with constant weights: nothing to quantize")
	}
	return m, nil
}

func checkQuantizable(pb *onnxpb.ModelProto) error {
	for _, p := range pb.GetMetadataProps() {
		if p.GetKey() == MetadataKey {
			return fmt.Errorf("%w (metadata %s = %s): quantize its float parent instead", ErrAlreadyQuantized, MetadataKey, p.GetValue())
		}
	}
	for _, n := range pb.GetGraph().GetNode() {
		if op := n.GetOpType(); op == "QuantizeLinear" || op == "DequantizeLinear" || op == "QLinearConv" || op == "ConvInteger" {
			return fmt.Errorf("%w (it has a %s node %q): quantize its float parent instead", ErrAlreadyQuantized, op, n.GetName())
		}
	}
	for _, o := range pb.GetOpsetImport() {
		if (o.GetDomain() == "" || o.GetDomain() == "ai.onnx") && o.GetVersion() < minOpset {
			return fmt.Errorf("model uses opset %d; per-channel quantization needs opset >= %d: export it again with opset_version=17", o.GetVersion(), minOpset)
		}
	}
	return nil
}

// Tensors are the activations calibration must observe, in graph order.
func (m *Model) Tensors() []string { return slices.Clone(m.plan.calibrate) }

// Nodes is how many nodes the quantized model runs in INT8.
func (m *Model) Nodes() int { return len(m.plan.nodes) }

// ProbeModel is the float model with every tensor of Tensors added as a
// graph output, for calibration with ONNX Runtime.
func (m *Model) ProbeModel() ([]byte, error) {
	pb := proto.Clone(m.pb).(*onnxpb.ModelProto)
	g := pb.GetGraph()
	have := map[string]bool{}
	for _, o := range g.GetOutput() {
		have[o.GetName()] = true
	}
	for _, t := range m.plan.calibrate {
		if have[t] {
			continue
		}
		g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: proto.String(t), Type: floatType()})
	}
	return proto.Marshal(pb)
}

func floatType() *onnxpb.TypeProto {
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT))}}}
}
