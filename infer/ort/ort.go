// Package ort runs YOLOv8-contract models with ONNX Runtime through
// github.com/yalue/onnxruntime_go: one session, reused, with its input and
// output tensors allocated once. It is the only cgo code in Vise and is
// linked only into vise-infer.
package ort

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/vise-edge/vise/infer"
)

// MinVersion is the oldest ONNX Runtime onnxruntime_go v1.27 works with.
const MinVersion = "1.24"

var (
	initOnce sync.Once
	initErr  error
)

// Init loads the ONNX Runtime shared library once per process.
func Init(libPath string) error {
	initOnce.Do(func() {
		if libPath == "" {
			initErr = errors.New("no ONNX Runtime library: pass --ort-lib or set VISE_ORT_LIB (scripts/setup.sh fetches it into .cache/onnxruntime)")
			return
		}
		if _, err := os.Stat(libPath); err != nil {
			initErr = fmt.Errorf("ONNX Runtime library %s: %w", libPath, err)
			return
		}
		ortgo.SetSharedLibraryPath(libPath)
		if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("load ONNX Runtime from %s: %w (it must be ONNX Runtime >= %s for this platform)", libPath, err, MinVersion)
			return
		}
		if v := ortgo.GetVersion(); !atLeast(v, MinVersion) {
			initErr = fmt.Errorf("ONNX Runtime %s at %s is too old; need >= %s", v, libPath, MinVersion)
		}
	})
	return initErr
}

// Version is the loaded library's version.
func Version() string { return ortgo.GetVersion() }

func atLeast(v, min string) bool {
	pv, pm := strings.Split(v, "."), strings.Split(min, ".")
	for i := range pm {
		a, b := 0, 0
		if i < len(pv) {
			a, _ = strconv.Atoi(pv[i])
		}
		b, _ = strconv.Atoi(pm[i])
		if a != b {
			return a > b
		}
	}
	return true
}

// Session is one loaded model with preallocated tensors. Not safe for
// concurrent Run calls.
type Session struct {
	Contract *infer.Contract
	sess     *ortgo.AdvancedSession
	in       *ortgo.Tensor[float32]
	out      *ortgo.Tensor[float32]
}

// Options for a session.
type Options struct {
	Threads int // intra-op threads; 0 lets ONNX Runtime decide
	// NoSpin stops idle intra-op threads spinning for work between runs:
	// with decode workers on the same cores, a spinning thread takes the
	// core a decoder needs.
	NoSpin bool
	Size   int // input size for models with dynamic height/width; default 640

	profile string // ONNX Runtime's profile file prefix (Profile sets it)
}

// Open checks the model against the contract and creates the session.
func Open(modelPath string, opts Options) (*Session, error) {
	if opts.Size == 0 {
		opts.Size = 640
	}
	c, err := infer.ReadContract(modelPath, opts.Size)
	if err != nil {
		return nil, err
	}
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if opts.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opts.Threads); err != nil {
			return nil, err
		}
	}
	if opts.NoSpin {
		if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			return nil, err
		}
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	if opts.profile != "" {
		if err := so.EnableProfiling(opts.profile); err != nil {
			return nil, err
		}
	}
	s := &Session{Contract: c}
	if s.in, err = ortgo.NewEmptyTensor[float32](ortgo.NewShape(1, 3, int64(c.Height), int64(c.Width))); err != nil {
		return nil, err
	}
	if c.Anchors == 0 {
		s.in.Destroy()
		return nil, fmt.Errorf("model output has a dynamic anchor count; export it with a fixed input size")
	}
	if s.out, err = ortgo.NewEmptyTensor[float32](ortgo.NewShape(1, int64(4+c.Classes), int64(c.Anchors))); err != nil {
		s.in.Destroy()
		return nil, err
	}
	s.sess, err = ortgo.NewAdvancedSession(modelPath, []string{c.Input}, []string{c.Output},
		[]ortgo.Value{s.in}, []ortgo.Value{s.out}, so)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("ONNX Runtime cannot load %s: %w", modelPath, err)
	}
	return s, nil
}

// Input is the preallocated input tensor's data: fill it, then Run.
func (s *Session) Input() []float32 { return s.in.GetData() }

// Output is the output tensor's data after Run.
func (s *Session) Output() []float32 { return s.out.GetData() }

// Run runs the model on the current input.
func (s *Session) Run() error { return s.sess.Run() }

// Close releases the session and tensors.
func (s *Session) Close() error {
	if s.sess != nil {
		s.sess.Destroy()
	}
	if s.in != nil {
		s.in.Destroy()
	}
	if s.out != nil {
		s.out.Destroy()
	}
	return nil
}
