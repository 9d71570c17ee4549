package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/datasets"
	"github.com/vise-edge/vise/train"
)

// Splits the evaluate action scores on.
const (
	splitValidation = "validation"
	splitBenchmark  = "benchmark"
)

// noteEvery is how often a training step writes its log's last lines into
// the step history while it runs.
const noteEvery = 2 * time.Second

// trainModel exports the execution's dataset version into a work folder,
// runs train/train.py on it (the version's own split) and puts the model
// into the blob store (content-addressed, so a rerun after a restart
// stores the same file once). Its log streams into the step's output while
// it runs; a failure carries the last lines.
func trainModel(ctx context.Context, e *env, r *run) (outcome, error) {
	if err := e.canTrain(); err != nil {
		return outcome{}, permanent{err}
	}
	epochs, err := strconv.Atoi(r.param("epochs"))
	if err != nil || epochs < 1 {
		return outcome{}, fail("epochs %q: give a whole number of at least 1", r.param("epochs"))
	}
	dir, err := os.MkdirTemp(e.workDir, "train-"+r.exec.ID+"-")
	if err != nil {
		return outcome{}, fmt.Errorf("training work folder: %w", err)
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	dv, err := e.exportDataset(ctx, "dataset", r.param("dataset"), data)
	if err != nil {
		return outcome{}, err
	}
	o := train.Options{Dataset: data, Out: filepath.Join(dir, "model.onnx"), ValList: filepath.Join(dir, "val.txt"), Epochs: epochs}
	p := &trainProgress{e: e, r: r, log: &[]string{}}
	res, err := train.Run(ctx, e.training, o, p.line, p.event)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return outcome{output: p.output()}, fail("training ran past the step's timeout (%v done of %d epochs): give the step a longer timeout or fewer epochs",
			p.output()["epoch"], epochs)
	case ctx.Err() != nil:
		return outcome{output: p.output()}, err // the server is stopping: the attempt runs again at its next start
	case err != nil:
		return outcome{output: p.output()}, permanent{err}
	}
	val, err := os.ReadFile(o.ValList)
	if err != nil {
		return outcome{}, permanent{fmt.Errorf("the trainer wrote no validation list: %w", err)}
	}
	f, err := os.Open(o.Out)
	if err != nil {
		return outcome{}, permanent{fmt.Errorf("the trainer wrote no model: %w", err)}
	}
	defer f.Close()
	art, err := e.reg.Upload(ctx, f, -1, "")
	if err != nil {
		return outcome{}, unlessUnavailable(err)
	}
	out := p.output()
	ds := res.Dataset
	for k, v := range map[string]any{"trained_sha256": art.SHA256, "dataset": dv.Ref(), "dataset_digest": dv.Digest, "train_images": ds.Train,
		"val_images": ds.Val, "classes": ds.Classes, "val_list": strings.Fields(string(val))} {
		out[k] = v
	}
	return outcome{output: out}, nil
}

// canTrain checks, before any work, that this server trains. (The server
// checked the Python modules at start; a module gone since is named by the
// trainer's failure.)
func (e *env) canTrain() error {
	if e.training.Script == "" || e.training.Infer == "" {
		return fmt.Errorf("this server does not train: start it with --trainer train/train.py and --vise-infer bin/vise-infer (see the README's Training section)")
	}
	return nil
}

// exportDataset writes the dataset version ref (NAME@VERSION, or NAME for
// its newest) into dir in YOLO layout, out of the blob store, and returns
// the version. param names the execution parameter, for the messages.
func (e *env) exportDataset(ctx context.Context, param, ref, dir string) (*vise.DatasetVersion, error) {
	if ref == "" {
		return nil, fail("no %s: pass --param %s=NAME@VERSION, a dataset version ('vise dataset list' shows them)", param, param)
	}
	name, version, err := datasets.ParseRef(ref)
	if err != nil {
		return nil, fail("%s %q is not a dataset version: pass NAME@VERSION ('vise dataset import NAME DIR' makes a version of a folder)", param, ref)
	}
	if e.datasets == nil {
		return nil, fail("this server keeps no dataset versions")
	}
	dv, err := e.datasets.Get(ctx, name, version)
	if err != nil {
		return nil, unlessUnavailable(fmt.Errorf("%s: %w", param, err))
	}
	if _, err := e.datasets.Export(ctx, dv, dir); err != nil {
		return nil, unlessUnavailable(fmt.Errorf("%s %s: %w", param, dv.Ref(), err))
	}
	return dv, nil
}

// trainProgress streams the trainer's log into the step history.
type trainProgress struct {
	e    *env
	r    *run
	mu   sync.Mutex
	log  *[]string
	last train.Event // the latest epoch
	sent time.Time
}

func (p *trainProgress) line(l string) {
	p.mu.Lock()
	*p.log = append(*p.log, l)
	if len(*p.log) > train.TailLines {
		*p.log = (*p.log)[len(*p.log)-train.TailLines:]
	}
	due := time.Since(p.sent) >= noteEvery
	if due {
		p.sent = time.Now()
	}
	out := p.outputLocked()
	p.mu.Unlock()
	if due { // best effort: the final output is recorded with the step's end
		p.e.store.NoteStep(context.Background(), p.r.exec.ID, p.r.step.Name, vise.ExecutionRunning, p.r.attempt, out, "")
	}
}

func (p *trainProgress) event(ev train.Event) {
	if ev.Event == "epoch" {
		p.mu.Lock()
		p.last = ev
		p.mu.Unlock()
	}
}

func (p *trainProgress) output() map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outputLocked()
}

func (p *trainProgress) outputLocked() map[string]any {
	return map[string]any{"log": append([]string{}, *p.log...), "epoch": p.last.Epoch, "epochs": p.last.Epochs, "loss": p.last.Loss}
}

// evaluate scores the trained model with vise-infer eval on the validation
// split of the version it was trained on (`on: validation`) or on every
// image of the benchmark dataset version (`on: benchmark`).
func evaluate(ctx context.Context, e *env, r *run) (outcome, error) {
	sha, _ := r.state["trained_sha256"].(string)
	if sha == "" {
		return outcome{}, fail("no trained model: an evaluate step must follow train")
	}
	on, _ := r.step.With["on"].(string)
	param, ref := "dataset", r.param("dataset")
	if trained, _ := r.state["dataset"].(string); trained != "" {
		ref = trained // the very version trained on, should a newer one have come since
	}
	if on == splitBenchmark {
		param, ref = "benchmark", r.param("benchmark")
	}
	dir, err := os.MkdirTemp(e.workDir, "eval-")
	if err != nil {
		return outcome{}, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	dv, err := e.exportDataset(ctx, param, ref, data)
	if err != nil {
		return outcome{}, err
	}
	model, err := e.materialize(ctx, sha, dir)
	if err != nil {
		return outcome{}, err
	}
	list := ""
	if on == splitValidation {
		names, _ := r.state["val_list"].([]any)
		if len(names) == 0 {
			return outcome{}, fail("the training run has no validation split: the dataset needs more camera shots")
		}
		list = filepath.Join(dir, "val.txt")
		if err := os.WriteFile(list, []byte(joinAny(names)), 0o644); err != nil {
			return outcome{}, err
		}
	}
	rep, err := train.Evaluate(ctx, e.training, model, data, list)
	if err != nil {
		return outcome{}, permanentUnlessStopped(ctx, fmt.Errorf("%s %s: %w", param, dv.Ref(), err))
	}
	return outcome{output: map[string]any{on + "_map50": rep.MAP50, on + "_map50_95": rep.MAP5095, on + "_images": rep.Images,
		on + "_dataset": dv.Ref(), on + "_digest": dv.Digest}}, nil
}

func permanentUnlessStopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return permanent{err}
}

func joinAny(v []any) string {
	var b strings.Builder
	for _, s := range v {
		fmt.Fprintln(&b, s)
	}
	return b.String()
}

// materialize copies a blob (a model) into dir, named for vise-infer.
func (e *env) materialize(ctx context.Context, sha, dir string) (string, error) {
	rc, err := e.reg.OpenArtifact(ctx, sha, 0, -1)
	if err != nil {
		return "", unlessUnavailable(err)
	}
	defer rc.Close()
	path := filepath.Join(dir, sha[:12]+".onnx")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
