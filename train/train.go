// Package train runs Vise's trainer (train/train.py, Python on Debian's
// python3-torch) and its evaluation (vise-infer eval) as child processes,
// for `vise train` and for the pipeline's train and evaluate steps. Each
// child runs in its own process group and is stopped with SIGTERM, then
// SIGKILL after a grace period, and always waited for.
package train

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vise-edge/vise"
)

// Config says where the trainer and its tools are; zero values get the
// defaults noted.
type Config struct {
	// Python runs the trainer. Default /usr/bin/python3: Debian's, with
	// python3-torch; a python3 earlier on PATH may lack Debian's modules.
	Python string
	// Script is train/train.py.
	Script string
	// Infer is the vise-infer binary that evaluates models.
	Infer string
	// ORTLib is the ONNX Runtime library vise-infer loads.
	ORTLib string
	// Grace is how long a stopped child has between SIGTERM and SIGKILL.
	// Default 5s.
	Grace time.Duration
}

func (c Config) withDefaults() Config {
	if c.Python == "" {
		c.Python = "/usr/bin/python3"
	}
	if c.Grace == 0 {
		c.Grace = 5 * time.Second
	}
	return c
}

// Modules are the Python modules the trainer imports, each with the Debian
// package that provides it.
var Modules = []Module{{"torch", "python3-torch"}, {"onnx", "python3-onnx"}, {"numpy", "python3-numpy"}, {"PIL", "python3-pil"}}

// Module is a Python module and the Debian package that installs it.
type Module struct{ Name, Package string }

// importCheck prints "NAME\tmissing" for each module argument Python
// cannot find, and "NAME\tREASON" for one that is there but fails to load.
const importCheck = `import importlib, sys
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
    except ModuleNotFoundError as e:
        print(m, "missing" if e.name == m else repr(e), sep="\t")
    except Exception as e:
        print(m, repr(e), sep="\t")
`

// Check makes sure the trainer can start: the script is there and Python
// imports every module, so a machine without python3-torch is told which
// package to install before any work starts (not by a traceback minutes
// later).
func Check(ctx context.Context, c Config, modules []Module) error {
	c = c.withDefaults()
	if _, err := os.Stat(c.Script); err != nil {
		return vise.Errorf(vise.CodeInvalid, "trainer script not found at %s: run from the repository root or pass its path (train/train.py): %w", c.Script, err)
	}
	names := make([]string, len(modules))
	for i, m := range modules {
		names[i] = m.Name
	}
	// One Python for all modules: importing torch takes seconds.
	out, err := exec.CommandContext(ctx, c.Python, append([]string{"-c", importCheck}, names...)...).CombinedOutput()
	if err != nil {
		return vise.Errorf(vise.CodeInvalid, "cannot run Python at %s (apt-get install python3): %w: %s", c.Python, err, lastLines(string(out), 3))
	}
	var missing []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, why, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		i := slices.Index(names, name)
		if i < 0 {
			continue
		}
		if why != "missing" {
			return vise.Errorf(vise.CodeInvalid, "python module %s (Debian %s) does not load: %s", name, modules[i].Package, why)
		}
		missing = append(missing, modules[i].Package)
	}
	if len(missing) > 0 {
		return vise.Errorf(vise.CodeInvalid, "the trainer needs the Debian packages %s, missing for %s: apt-get install --no-install-recommends %s (or scripts/setup.sh train)",
			strings.Join(missing, ", "), c.Python, strings.Join(missing, " "))
	}
	return nil
}

// Options are one training run's inputs.
type Options struct {
	Dataset string // YOLO layout
	Out     string // the ONNX model to write
	ValList string // where the validation split's image names go
	Epochs  int
	Size    int // network input size; 0: the trainer's default
	Batch   int // 0: the trainer's default
}

// Event is one JSON line of the trainer's progress.
type Event struct {
	Event   string   `json:"event"`
	Epoch   int      `json:"epoch"`
	Epochs  int      `json:"epochs"`
	Loss    float64  `json:"loss"`
	Digest  string   `json:"digest"`
	Images  int      `json:"images"`
	Train   int      `json:"train"`
	Val     int      `json:"val"`
	Classes []string `json:"classes"`
	Seconds float64  `json:"seconds"`
}

// Result is what a finished training run reports: its dataset event
// (digest, split sizes, classes) and the last lines of its log.
type Result struct {
	Dataset Event
	Tail    []string
}

// TailLines is how many of the trainer's last log lines a failure carries.
const TailLines = 15

// Run trains. Every line the trainer writes (progress on stdout, warnings
// and tracebacks on stderr) goes to onLine as it comes; onEvent gets the
// progress lines decoded. A failure carries the log's last lines.
func Run(ctx context.Context, c Config, o Options, onLine func(string), onEvent func(Event)) (Result, error) {
	c = c.withDefaults()
	args := []string{c.Script, "--dataset", o.Dataset, "--out", o.Out, "--epochs", fmt.Sprint(o.Epochs)}
	if o.ValList != "" {
		args = append(args, "--val-list", o.ValList)
	}
	if o.Size > 0 {
		args = append(args, "--size", fmt.Sprint(o.Size))
	}
	if o.Batch > 0 {
		args = append(args, "--batch", fmt.Sprint(o.Batch))
	}
	var res Result
	tail := &tailBuffer{max: TailLines}
	pr, pw := io.Pipe()
	cmd := exec.Command(c.Python, args...)
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			tail.add(line)
			if onLine != nil {
				onLine(line)
			}
			var ev Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event != "" {
				if ev.Event == "dataset" {
					res.Dataset = ev
				}
				if onEvent != nil {
					onEvent(ev)
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err := runGroup(ctx, cmd, c.Grace)
	pw.Close()
	<-done
	res.Tail = tail.lines
	if err != nil {
		return res, vise.Errorf(vise.CodeInvalid, "trainer failed (%w)%s; its last lines:\n%s", err, missingHint(res.Tail), strings.Join(res.Tail, "\n"))
	}
	return res, nil
}

// missingHint names the Debian package of a module the trainer's Python
// could not import (the modules were there when checked, and went).
func missingHint(tail []string) string {
	for _, l := range tail {
		for _, m := range Modules {
			if strings.Contains(l, "No module named '"+m.Name+"'") {
				return ": Python lacks " + m.Name + ", apt-get install --no-install-recommends " + m.Package
			}
		}
	}
	return ""
}

// runGroup runs cmd in its own process group until it exits or ctx ends;
// then the whole group gets SIGTERM, and SIGKILL after grace. It always
// waits, so no child is left behind.
func runGroup(ctx context.Context, cmd *exec.Cmd, grace time.Duration) error {
	// Pdeathsig: a server killed outright (kill -9) takes its trainer with
	// it, so the rerun after the restart is the only training. (Linux sends
	// it when the thread that started the child exits, and Go may end
	// threads; the group kill below covers every ordinary stop.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		return err
	case <-ctx.Done():
	}
	pgid := cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-waited:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-waited
	}
	return fmt.Errorf("stopped: %w", ctx.Err())
}

// tailBuffer keeps the last max lines.
type tailBuffer struct {
	max   int
	lines []string
}

func (t *tailBuffer) add(line string) {
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
