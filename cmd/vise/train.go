package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/oklog/ulid/v2"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/train"
)

// trainOpts are `vise train`'s flags.
type trainOpts struct {
	dataset, name, out, python, trainer, infer, ortLib string
	epochs, size                                       int
	register                                           bool
}

func (a *app) trainCmd() *cobra.Command {
	var o trainOpts
	c := &cobra.Command{
		Use:   "train --dataset DIR",
		Short: "Train a detector on a YOLO-layout dataset, evaluate it, and register it with its metrics and lineage",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.dataset == "" {
				return fmt.Errorf("%w: give the dataset with --dataset DIR", errUsage)
			}
			return a.train(c.Context(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.dataset, "dataset", "", "dataset in YOLO layout (images/, labels/)")
	f.StringVar(&o.name, "name", "metal-tags", "model group to register the result in")
	f.StringVar(&o.out, "out", "", "where to write the ONNX model (default: a temporary file)")
	f.IntVar(&o.epochs, "epochs", 80, "training epochs")
	f.IntVar(&o.size, "size", 0, "network input size, a multiple of 32 (default the trainer's, 320)")
	f.StringVar(&o.python, "python", "/usr/bin/python3", "Python with Debian's python3-torch and python3-onnx")
	f.StringVar(&o.trainer, "trainer", filepath.Join("train", "train.py"), "the trainer script")
	f.StringVar(&o.infer, "infer", filepath.Join("bin", "vise-infer"), "vise-infer, for the evaluation")
	f.StringVar(&o.ortLib, "ort-lib", envOr("VISE_ORT_LIB", filepath.Join(".cache", "onnxruntime", "1.30.0", "libonnxruntime.so.1")), "ONNX Runtime library for the evaluation")
	f.BoolVar(&o.register, "register", true, "register the trained model")
	return a.addOutput(c)
}

func (a *app) train(ctx context.Context, o trainOpts) error {
	if _, err := checkDataset(o.dataset); err != nil {
		return err
	}
	if _, err := os.Stat(o.infer); err != nil {
		return vise.Errorf(vise.CodeInvalid, "vise-infer not found at %s: build it (make build) or pass --infer", o.infer)
	}
	cfg := train.Config{Python: o.python, Script: o.trainer, Infer: o.infer, ORTLib: o.ortLib}
	if err := train.Check(ctx, cfg, train.Modules); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "vise-train-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.out == "" {
		o.out = filepath.Join(tmp, o.name+".onnx")
	}
	val := filepath.Join(tmp, "val.txt")
	res, err := train.Run(ctx, cfg, train.Options{Dataset: o.dataset, Out: o.out, ValList: val, Epochs: o.epochs, Size: o.size}, nil, a.trainProgress(o.epochs))
	if err != nil {
		return err
	}
	ev, err := train.Evaluate(ctx, cfg, o.out, o.dataset, val)
	if err != nil {
		return err
	}
	result := map[string]any{"model": o.out, "map50": ev.MAP50, "map50_95": ev.MAP5095, "val_images": ev.Images}
	if o.register {
		mv, err := a.registerTrained(ctx, o, res.Dataset, ev)
		if err != nil {
			return err
		}
		result["registered"] = mv
	}
	return a.print(result, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "trained %s: mAP50 %.3f, mAP50-95 %.3f on %d validation images\n", o.out, ev.MAP50, ev.MAP5095, ev.Images)
		if mv, ok := result["registered"].(*vise.ModelVersion); ok {
			fmt.Fprintf(w, "registered %s version %d (%s) %s\n", mv.Group, mv.Version, mv.Approval.Status, mv.Approval.Reason)
		}
	})
}

// trainProgress shows the trainer's epochs: a bar on a terminal, a line
// every tenth epoch otherwise.
func (a *app) trainProgress(epochs int) func(train.Event) {
	var bar *progressbar.ProgressBar
	if a.isTerminal() {
		bar = progressbar.NewOptions(epochs, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription("training"),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	}
	return func(ev train.Event) {
		switch {
		case ev.Event != "epoch":
		case bar != nil:
			bar.Describe(fmt.Sprintf("training (loss %.3f)", ev.Loss))
			bar.Set(ev.Epoch)
		case ev.Epoch%10 == 0 || ev.Epoch == ev.Epochs:
			fmt.Fprintf(a.stderr, "epoch %d/%d loss %.4f (%.0fs)\n", ev.Epoch, ev.Epochs, ev.Loss, ev.Seconds)
		}
	}
}

func (a *app) registerTrained(ctx context.Context, o trainOpts, ds train.Event, ev train.Report) (*vise.ModelVersion, error) {
	cl := a.client()
	art, err := cl.UploadFile(ctx, o.out, a.progress("uploading "+filepath.Base(o.out)))
	if err != nil {
		return nil, err
	}
	return cl.RegisterModel(ctx, o.name, vise.RegisterModelRequest{SHA256: art.SHA256,
		Metrics: map[string]float64{"map50": ev.MAP50, "map50_95": ev.MAP5095},
		Lineage: vise.Lineage{DatasetDigest: ds.Digest, TrainingRun: ulid.Make().String(), CodeVersion: Version,
			Params: map[string]string{"epochs": fmt.Sprint(o.epochs), "trainer": filepath.Base(o.trainer),
				"train_images": fmt.Sprint(ds.Train), "val_images": fmt.Sprint(ds.Val)}},
		Description: fmt.Sprintf("trained by vise train on %s", filepath.Base(o.dataset))})
}

// evalReport is vise-infer eval's report, as `vise model optimize` reads it.
type evalReport = train.Report
