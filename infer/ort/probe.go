package ort

import (
	"fmt"

	ortgo "github.com/yalue/onnxruntime_go"
)

// Probe runs a model whose intermediate tensors were made graph outputs
// and hands each one over after every run: calibration for quantization.
type Probe struct {
	sess  *ortgo.DynamicAdvancedSession
	in    *ortgo.Tensor[float32]
	names []string
}

// OpenProbe loads a model from memory with input [1,3,h,w] named input and
// the named outputs, which ONNX Runtime allocates at each run.
func OpenProbe(model []byte, input string, outputs []string, w, h, threads int) (*Probe, error) {
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if threads > 0 {
		if err := so.SetIntraOpNumThreads(threads); err != nil {
			return nil, err
		}
	}
	p := &Probe{names: outputs}
	if p.in, err = ortgo.NewEmptyTensor[float32](ortgo.NewShape(1, 3, int64(h), int64(w))); err != nil {
		return nil, err
	}
	if p.sess, err = ortgo.NewDynamicAdvancedSessionWithONNXData(model, []string{input}, outputs, so); err != nil {
		p.in.Destroy()
		return nil, fmt.Errorf("ONNX Runtime cannot load the calibration model: %w", err)
	}
	return p, nil
}

// Input is the input tensor's data: fill it, then Run.
func (p *Probe) Input() []float32 { return p.in.GetData() }

// Run runs the model and calls visit with each output's name and values,
// which are valid only during the call.
func (p *Probe) Run(visit func(name string, data []float32)) error {
	outs := make([]ortgo.Value, len(p.names))
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	if err := p.sess.Run([]ortgo.Value{p.in}, outs); err != nil {
		return err
	}
	for i, o := range outs {
		t, ok := o.(*ortgo.Tensor[float32])
		if !ok {
			return fmt.Errorf("calibration output %s is %T, not a float tensor", p.names[i], o)
		}
		visit(p.names[i], t.GetData())
	}
	return nil
}

// Close releases the session and input.
func (p *Probe) Close() error {
	p.sess.Destroy()
	p.in.Destroy()
	return nil
}
