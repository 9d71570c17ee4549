package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/oklog/ulid/v2"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
)

// trainOpts are `vise train`'s flags.
type trainOpts struct {
	dataset, name, out, python, trainer, infer, ortLib string
	epochs                                             int
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
	f.StringVar(&o.python, "python", "/usr/bin/python3", "Python with Debian's python3-torch and python3-onnx")
	f.StringVar(&o.trainer, "trainer", filepath.Join("train", "train.py"), "the trainer script")
	f.StringVar(&o.infer, "infer", filepath.Join("bin", "vise-infer"), "vise-infer, for the evaluation")
	f.StringVar(&o.ortLib, "ort-lib", envOr("VISE_ORT_LIB", filepath.Join(".cache", "onnxruntime", "1.30.0", "libonnxruntime.so.1")), "ONNX Runtime library for the evaluation")
	f.BoolVar(&o.register, "register", true, "register the trained model")
	return a.addOutput(c)
}

// trainEvent is one JSON line of the trainer's progress.
type trainEvent struct {
	Event   string  `json:"event"`
	Epoch   int     `json:"epoch"`
	Epochs  int     `json:"epochs"`
	Loss    float64 `json:"loss"`
	Digest  string  `json:"digest"`
	Train   int     `json:"train"`
	Val     int     `json:"val"`
	Seconds float64 `json:"seconds"`
}

func (a *app) train(ctx context.Context, o trainOpts) error {
	if _, err := checkDataset(o.dataset); err != nil {
		return err
	}
	for _, need := range []struct{ path, what string }{{o.python, "Python (apt-get install python3-torch python3-onnx)"},
		{o.trainer, "the trainer script (run from the repository root or pass --trainer)"}, {o.infer, "vise-infer (make build)"}} {
		if _, err := os.Stat(need.path); err != nil {
			return vise.Errorf(vise.CodeInvalid, "%s not found at %s: %s", filepath.Base(need.path), need.path, need.what)
		}
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
	ds, err := a.runTrainer(ctx, o, val)
	if err != nil {
		return err
	}
	ev, err := evaluate(ctx, o, val)
	if err != nil {
		return err
	}
	result := map[string]any{"model": o.out, "map50": ev.MAP50, "map50_95": ev.MAP5095, "val_images": ev.Images}
	if o.register {
		mv, err := a.registerTrained(ctx, o, ds, ev)
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

// runTrainer runs the Python trainer, showing its progress, and returns its
// dataset event (digest, split sizes).
func (a *app) runTrainer(ctx context.Context, o trainOpts, val string) (trainEvent, error) {
	cmd := exec.CommandContext(ctx, o.python, o.trainer, "--dataset", o.dataset, "--out", o.out, "--val-list", val,
		"--epochs", fmt.Sprint(o.epochs))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return trainEvent{}, err
	}
	var bar *progressbar.ProgressBar
	if a.isTerminal() {
		bar = progressbar.NewOptions(o.epochs, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription("training"),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	}
	var ds trainEvent
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var ev trainEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch {
		case ev.Event == "dataset":
			ds = ev
		case ev.Event == "epoch" && bar != nil:
			bar.Describe(fmt.Sprintf("training (loss %.3f)", ev.Loss))
			bar.Set(ev.Epoch)
		case ev.Event == "epoch" && (ev.Epoch%10 == 0 || ev.Epoch == ev.Epochs):
			fmt.Fprintf(a.stderr, "epoch %d/%d loss %.4f (%.0fs)\n", ev.Epoch, ev.Epochs, ev.Loss, ev.Seconds)
		}
	}
	if err := cmd.Wait(); err != nil {
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		return ds, vise.Errorf(vise.CodeInvalid, "trainer failed: %v: %s", err, lines[len(lines)-1])
	}
	return ds, nil
}

type evalReport struct {
	Images  int     `json:"images"`
	MAP50   float64 `json:"map50"`
	MAP5095 float64 `json:"map50_95"`
}

func evaluate(ctx context.Context, o trainOpts, val string) (evalReport, error) {
	cmd := exec.CommandContext(ctx, o.infer, "eval", "--model", o.out, "--dataset", o.dataset, "--list", val, "--ort-lib", o.ortLib, "-o", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	var ev evalReport
	if err != nil || json.Unmarshal(b, &ev) != nil {
		return ev, vise.Errorf(vise.CodeInvalid, "evaluation failed: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return ev, nil
}

func (a *app) registerTrained(ctx context.Context, o trainOpts, ds trainEvent, ev evalReport) (*vise.ModelVersion, error) {
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
