// Command vise-infer runs a YOLOv8-contract ONNX model on camera images with
// ONNX Runtime: as a component under the Vise agent (results go to the
// agent's local IPC endpoint), or on its own for people trying a model.
//
//	vise-infer run   --model M --source DIR [--replay --interval 1s]
//	vise-infer bench --model M --images DIR [-o json]
//	vise-infer eval  --model M --dataset DIR [-o json]
//	vise-infer quantize --model M --calibration DIR --out M-int8.onnx
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vise-infer:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `usage: vise-infer run|bench|eval|quantize [flags]; 'vise-infer CMD -h' lists a command's flags`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	switch args[0] {
	case "run":
		limitMemory()
		return runCmd(ctx, args[1:], stdout, log)
	case "bench":
		limitMemory()
		return benchCmd(ctx, args[1:], stdout, log)
	case "eval":
		return evalCmd(ctx, args[1:], stdout, log)
	case "quantize":
		return quantizeCmd(ctx, args[1:], stdout, log)
	}
	return fmt.Errorf("%w: unknown command %q; %s", errUsage, args[0], usage)
}

// common are the flags every command has.
type common struct {
	model    string
	ortLib   string
	threads  int
	decoders int
	spin     bool
	dctScale bool
	size     int
	conf     float64
	iou      float64
	maxDet   int
	output   string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.model, "model", os.Getenv("VISE_MODEL"), "ONNX model file (env VISE_MODEL)")
	fs.StringVar(&c.ortLib, "ort-lib", os.Getenv("VISE_ORT_LIB"), "path of libonnxruntime.so (env VISE_ORT_LIB)")
	fs.IntVar(&c.threads, "threads", 0, "ONNX Runtime intra-op threads (0: from the core count, see --decoders)")
	fs.IntVar(&c.decoders, "decoders", 0, "image decode workers running beside inference (0: from the core count)")
	fs.BoolVar(&c.spin, "spin", false, "let idle ONNX Runtime threads spin for work (faster alone, slower beside decoders)")
	fs.BoolVar(&c.dctScale, "dct-scale", true, "decode large JPEGs DCT-scaled down to no less than the network input (false: full size, to compare)")
	fs.IntVar(&c.size, "size", 640, "input size for models with dynamic height/width")
	fs.Float64Var(&c.conf, "conf", 0.25, "confidence threshold")
	fs.Float64Var(&c.iou, "iou", 0.45, "NMS IoU threshold")
	fs.IntVar(&c.maxDet, "max-det", 300, "most detections per image")
	fs.StringVar(&c.output, "o", "text", "output: text or json")
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
