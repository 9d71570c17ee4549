package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/quantize"
)

// optimizeOpts are `vise model optimize`'s flags.
type optimizeOpts struct {
	int8                                              bool
	calibration, dataset, list, method, infer, ortLib string
	out                                               string
}

func (a *app) modelOptimizeCmd() *cobra.Command {
	var o optimizeOpts
	c := &cobra.Command{
		Use:   "optimize NAME VERSION --int8 --calibration DIR --dataset DIR [--list FILE]",
		Short: "Quantize a float model version to INT8, evaluate it beside its parent and register it as the next version",
		Long: `Quantize a float model version to INT8 with vise-infer, evaluate both on the
same validation images with vise-infer eval, and register the INT8 model as the
next version of the same model with lineage to its parent. The registry stores
it as Rejected when its mAP50 is more than 0.01 below the parent's.`,
		Args: exactArgs(2, "a model name and a version"),
		RunE: func(c *cobra.Command, args []string) error {
			v, err := parseVersion(args[1])
			if err != nil {
				return err
			}
			switch {
			case !o.int8:
				return fmt.Errorf("%w: say what to make: --int8 (the only optimization today)", errUsage)
			case o.calibration == "":
				return fmt.Errorf("%w: give calibration images with --calibration DIR (20-200 images like the line's, not the validation ones)", errUsage)
			case o.dataset == "":
				return fmt.Errorf("%w: give the parent's validation data with --dataset DIR (YOLO layout) and --list FILE", errUsage)
			}
			return a.optimize(c.Context(), args[0], v, o)
		},
	}
	f := c.Flags()
	f.BoolVar(&o.int8, "int8", false, "make a static INT8 (QDQ) model")
	f.StringVar(&o.calibration, "calibration", "", "folder of JPEG/PNG images to calibrate activation ranges on")
	f.StringVar(&o.dataset, "dataset", "", "dataset in YOLO layout (images/, labels/) holding the parent's validation images")
	f.StringVar(&o.list, "list", "", "the parent's validation images, one name a line (default: every image of --dataset)")
	f.StringVar(&o.method, "method", string(quantize.Percentile), "calibration: percentile or minmax")
	f.StringVar(&o.out, "out", "", "also keep the INT8 model at this path")
	f.StringVar(&o.infer, "infer", filepath.Join("bin", "vise-infer"), "vise-infer, which quantizes and evaluates")
	f.StringVar(&o.ortLib, "ort-lib", envOr("VISE_ORT_LIB", filepath.Join(".cache", "onnxruntime", "1.30.0", "libonnxruntime.so.1")), "ONNX Runtime library for vise-infer")
	return a.addOutput(c)
}

// optimizeResult is what `vise model optimize -o json` prints.
type optimizeResult struct {
	Quantize   quantize.Report    `json:"quantize"`
	Parent     evalReport         `json:"parent_eval"`
	Int8       evalReport         `json:"int8_eval"`
	Registered *vise.ModelVersion `json:"registered"`
}

func (a *app) optimize(ctx context.Context, name string, version int, o optimizeOpts) error {
	if _, err := os.Stat(o.infer); err != nil {
		return vise.Errorf(vise.CodeInvalid, "vise-infer not found at %s: build it (make build) or pass --infer", o.infer)
	}
	cl := a.client()
	parent, err := cl.ModelVersion(ctx, name, version)
	if err != nil {
		return err
	}
	if parent.Lineage.Variant == vise.VariantInt8 {
		return vise.Errorf(vise.CodeInvalid, "model %s version %d is already INT8: optimize its float parent, version %d", name, version, parent.Lineage.ParentVersion)
	}
	tmp, err := os.MkdirTemp("", "vise-optimize-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	parentPath := filepath.Join(tmp, fmt.Sprintf("%s-v%d.onnx", name, version))
	if err := cl.DownloadFile(ctx, parent.Artifact.SHA256, parentPath); err != nil {
		return err
	}
	out := o.out
	if out == "" {
		out = filepath.Join(tmp, fmt.Sprintf("%s-v%d-int8.onnx", name, version))
	}
	var res optimizeResult
	if err := runInfer(ctx, o, &res.Quantize, "quantize", "--model", parentPath, "--calibration", o.calibration, "--out", out, "--method", o.method); err != nil {
		return err
	}
	for _, w := range res.Quantize.Warnings {
		fmt.Fprintln(a.stderr, "warning:", w)
	}
	evalArgs := []string{"--dataset", o.dataset}
	if o.list != "" {
		evalArgs = append(evalArgs, "--list", o.list)
	}
	if err := runInfer(ctx, o, &res.Parent, append([]string{"eval", "--model", parentPath}, evalArgs...)...); err != nil {
		return err
	}
	if err := runInfer(ctx, o, &res.Int8, append([]string{"eval", "--model", out}, evalArgs...)...); err != nil {
		return err
	}
	if res.Registered, err = a.registerInt8(ctx, parent, out, res); err != nil {
		return err
	}
	return a.print(res, func(w *tabwriter.Writer) {
		mv := res.Registered
		fmt.Fprintf(w, "INT8 of %s version %d: mAP50 %.4f (parent %.4f), mAP50-95 %.4f (parent %.4f) on %d images\n", name, version,
			res.Int8.MAP50, res.Parent.MAP50, res.Int8.MAP5095, res.Parent.MAP5095, res.Int8.Images)
		fmt.Fprintf(w, "registered %s version %d (%s)\n", mv.Group, mv.Version, mv.Approval.Status)
		if mv.Approval.Reason != "" {
			fmt.Fprintf(w, "  %s\n", mv.Approval.Reason)
		}
	})
}

func (a *app) registerInt8(ctx context.Context, parent *vise.ModelVersion, path string, res optimizeResult) (*vise.ModelVersion, error) {
	cl := a.client()
	art, err := cl.UploadFile(ctx, path, a.progress("uploading "+filepath.Base(path)))
	if err != nil {
		return nil, err
	}
	q := res.Quantize
	return cl.RegisterModel(ctx, parent.Group, vise.RegisterModelRequest{SHA256: art.SHA256,
		Metrics: map[string]float64{"map50": res.Int8.MAP50, "map50_95": res.Int8.MAP5095,
			"parent_map50": res.Parent.MAP50, "parent_map50_95": res.Parent.MAP5095},
		Lineage: vise.Lineage{ParentVersion: parent.Version, Variant: vise.VariantInt8, CalibrationDigest: q.CalibrationDigest,
			QuantizationMethod: string(q.Method), DatasetDigest: parent.Lineage.DatasetDigest, CodeVersion: Version,
			Params: map[string]string{"calibration_images": fmt.Sprint(q.CalibrationImages), "val_images": fmt.Sprint(res.Int8.Images),
				"weight_bits": fmt.Sprint(q.WeightBits)}},
		Description: fmt.Sprintf("INT8 of version %d (%s calibration on %d images)", parent.Version, q.Method, q.CalibrationImages)})
}

// runInfer runs a vise-infer command with -o json and decodes its report.
func runInfer(ctx context.Context, o optimizeOpts, out any, args ...string) error {
	args = append(args, "--ort-lib", o.ortLib, "-o", "json")
	cmd := exec.CommandContext(ctx, o.infer, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "vise-infer: "); i >= 0 {
			msg = msg[i+len("vise-infer: "):]
		}
		return vise.Errorf(vise.CodeInvalid, "vise-infer %s: %s", args[0], msg)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return vise.Errorf(vise.CodeInternal, "vise-infer %s printed no report: %w", args[0], err)
	}
	return nil
}
