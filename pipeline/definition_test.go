package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
)

func TestBuiltInParses(t *testing.T) {
	d, _, err := Parse(strings.NewReader(EdgeDeployYAML))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "edge-deploy" || d.Steps[0].Action != "prepare-model" {
		t.Fatalf("got %s starting with %s", d.Name, d.Steps[0].Action)
	}
	if got := time.Duration(d.Steps[0].Timeout); got != DefaultTimeout {
		t.Errorf("default timeout %v, want %v", got, DefaultTimeout)
	}
	if _, err := d.Bind(map[string]string{"model": "m"}); err == nil || !strings.Contains(err.Error(), "needs target") {
		t.Errorf("missing target: %v", err)
	}
	p, err := d.Bind(map[string]string{"model": "m", "target": "group:g"})
	if err != nil || p["inference"] != "vise.inspect" {
		t.Errorf("defaults: %v %v", p, err)
	}
}

// retrain trains before it evaluates, gates and registers, and needs its
// folders.
func TestRetrainParses(t *testing.T) {
	d, _, err := Parse(strings.NewReader(RetrainYAML))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, s := range d.Steps {
		actions = append(actions, s.Action)
	}
	if d.Name != "retrain" || strings.Join(actions, ",") != "train,evaluate,evaluate,gate,register" {
		t.Fatalf("got %s: %v", d.Name, actions)
	}
	if time.Duration(d.Steps[0].Timeout)+bookkeeping >= DefaultRescueAfter {
		t.Errorf("the train step's timeout %v reaches the default rescue delay %v: a live training would be rescued and run twice", d.Steps[0].Timeout, DefaultRescueAfter)
	}
	if _, err := d.Bind(map[string]string{"model": "m", "dataset": "d"}); err == nil || !strings.Contains(err.Error(), "needs benchmark") {
		t.Errorf("missing benchmark: %v", err)
	}
	if p, err := d.Bind(map[string]string{"model": "m", "dataset": "d", "benchmark": "b"}); err != nil || p["epochs"] != "80" {
		t.Errorf("defaults: %v %v", p, err)
	}
}

func TestParseRejects(t *testing.T) {
	const head = "name: p\nsteps:\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "empty"},
		{"unknown field", head + "  - name: a\n    action: wait\n    with: {duration: 1s}\n    nxt: b\n", "field nxt not found"},
		{"unknown action", head + "  - name: a\n    action: deploi\n", `unknown action "deploi"`},
		{"unknown next", head + "  - name: a\n    action: rollback\n    next: b\n", `unknown step "b"`},
		{"cycle", head + "  - name: a\n    action: rollback\n    next: b\n  - name: b\n    action: rollback\n    catch: a\n", "cycle: a -> b -> a"},
		{"self loop", head + "  - name: a\n    action: rollback\n    catch: a\n", "cycle: a -> a"},
		{"unreachable", head + "  - name: a\n    action: rollback\n  - name: b\n    action: rollback\n", "step b is never reached"},
		{"duplicate", head + "  - name: a\n    action: rollback\n    next: a\n  - name: a\n    action: rollback\n", "used twice"},
		{"bad setting", head + "  - name: a\n    action: deploy\n    with: {fraction: 2}\n", "not a number from 0 to 1"},
		{"unknown setting", head + "  - name: a\n    action: deploy\n    with: {fractoin: 0.5}\n", `unknown setting "fractoin"`},
		{"missing setting", head + "  - name: a\n    action: wait\n", "needs the setting duration"},
		{"bad duration", head + "  - name: a\n    action: rollback\n    timeout: soon\n", "soon"},
		{"bad attempts", head + "  - name: a\n    action: rollback\n    retry: {attempts: 100}\n", "retry attempts must be 1 to 25"},
		{"bad end", head + "  - name: a\n    action: rollback\n    end: maybe\n", `end "maybe"`},
		{"bad name", "name: Edge Deploy\nsteps:\n  - name: a\n    action: rollback\n", "name \"Edge Deploy\""},
		{"no steps", "name: p\n", "no steps"},
		{"bad split", head + "  - name: a\n    action: evaluate\n    with: {on: test}\n", "test: use validation or benchmark"},
		{"no split", head + "  - name: a\n    action: evaluate\n", "needs the setting on"},
		{"not yaml", "name: [", "pipeline definition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(strings.NewReader(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if vise.ErrorCode(err) != vise.CodeInvalid {
				t.Errorf("code %s, want invalid", vise.ErrorCode(err))
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	_, _, err := Parse(strings.NewReader("description: " + strings.Repeat("x", maxDefinition)))
	if vise.ErrorCode(err) != vise.CodeTooLarge {
		t.Fatalf("got %v", err)
	}
}

func TestBindRejectsUnknownParam(t *testing.T) {
	d, _, err := Parse(strings.NewReader(EdgeDeployYAML))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Bind(map[string]string{"model": "m", "target": "group:g", "targte": "x"})
	if err == nil || !strings.Contains(err.Error(), "no parameter targte") {
		t.Fatalf("got %v", err)
	}
}

func TestBackoffDoublesToCap(t *testing.T) {
	s := Step{Retry: Retry{Backoff: vise.Duration(time.Second), MaxBackoff: vise.Duration(5 * time.Second)}}
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, s.backoff(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", got, want)
		}
	}
}

// The README's example definition parses.
func TestREADMEExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\nname: quick-deploy")
	if !ok {
		t.Fatal("README has no quick-deploy example")
	}
	body, _, _ := strings.Cut(rest, "```")
	d, _, err := Parse(strings.NewReader("name: quick-deploy" + body))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Steps) != 6 {
		t.Errorf("%d steps", len(d.Steps))
	}
}
