package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/ort"
)

// open loads ONNX Runtime and the model, checking the contract first so a
// wrong model is refused with the shapes it has, before the library loads.
func (c *common) open() (*ort.Session, infer.ModelRef, error) {
	if c.model == "" {
		return nil, infer.ModelRef{}, fmt.Errorf("%w: no model: pass --model FILE.onnx", errUsage)
	}
	if _, err := infer.ReadContract(c.model, c.size); err != nil {
		return nil, infer.ModelRef{}, err
	}
	if err := ort.Init(c.ortLib); err != nil {
		return nil, infer.ModelRef{}, err
	}
	c.threads, c.decoders = split(runtime.NumCPU(), c.threads, c.decoders)
	s, err := ort.Open(c.model, ort.Options{Threads: c.threads, Size: c.size, NoSpin: !c.spin})
	if err != nil {
		return nil, infer.ModelRef{}, err
	}
	sum, err := deviceapi.FileSHA256(c.model)
	if err != nil {
		s.Close()
		return nil, infer.ModelRef{}, err
	}
	ref := infer.ModelRef{Name: envOr("VISE_MODEL_NAME", "model"), Version: envOr("VISE_MODEL_VERSION", ""), SHA256: sum}
	return s, ref, nil
}

// split chooses ONNX Runtime's intra-op threads and the decode workers
// from the core count, keeping what the user set: one decoder per four
// cores (at least one), inference on the rest (at least one thread). A
// DCT-scaled decode of even a 5 MP frame costs less core time than one
// inference, so a decoder on its own core keeps up with the model; giving
// inference every core instead makes decoding steal from it, and intra-op
// threads scale poorly on small models anyway (README, "Speed").
func split(cores, threads, decoders int) (int, int) {
	if decoders <= 0 {
		decoders = max(1, cores/4)
	}
	if threads <= 0 {
		threads = max(1, cores-decoders)
	}
	return threads, decoders
}

func (c *common) pipe() pipeOptions { return pipeOptions{Decoders: c.decoders, NoScale: !c.dctScale} }

func (c *common) post(s *ort.Session) infer.Post {
	return infer.Post{Confidence: float32(c.conf), IoU: float32(c.iou), MaxDet: c.maxDet, Classes: s.Contract.Names}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
