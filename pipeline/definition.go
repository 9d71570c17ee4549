package pipeline

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vise-edge/vise"
)

// EdgeDeployYAML is the built-in edge-deploy pipeline.
//
//go:embed edge-deploy.yaml
var EdgeDeployYAML string

// RetrainYAML is the built-in retrain pipeline.
//
//go:embed retrain.yaml
var RetrainYAML string

// Definition is a parsed, checked pipeline.
type Definition struct {
	Name        string           `yaml:"name"`
	Description string           `yaml:"description"`
	Params      map[string]Param `yaml:"params"`
	Steps       []Step           `yaml:"steps"`
}

// Param is a parameter an execution is started with.
type Param struct {
	Required    bool   `yaml:"required"`
	Default     string `yaml:"default"`
	Description string `yaml:"description"`
}

// Step is one state of the pipeline: an action, what follows it, and its
// policies.
type Step struct {
	Name   string         `yaml:"name"`
	Action string         `yaml:"action"`
	With   map[string]any `yaml:"with"`
	// Next is the step after success; none ends the execution with End.
	Next string `yaml:"next"`
	// Catch is where the execution goes when the step fails for good
	// (retries spent or timed out); none ends it FAILED.
	Catch   string        `yaml:"catch"`
	Retry   Retry         `yaml:"retry"`
	Timeout vise.Duration `yaml:"timeout"`
	// End is how the execution ends when this step is the last: succeeded
	// (default) or failed, for a fallback path that undid a failure.
	End string `yaml:"end"`
}

// Retry is a step's retry policy: attempts in all, exponential backoff
// from Backoff doubling up to MaxBackoff.
type Retry struct {
	Attempts   int           `yaml:"attempts"`
	Backoff    vise.Duration `yaml:"backoff"`
	MaxBackoff vise.Duration `yaml:"max_backoff"`
}

// Defaults for steps that do not say.
const (
	DefaultTimeout    = time.Minute
	DefaultAttempts   = 3
	DefaultBackoff    = 2 * time.Second
	DefaultMaxBackoff = time.Minute
	maxAttempts       = 25
	maxDefinition     = 256 << 10
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// Parse reads and checks a pipeline definition, returning every problem
// found, each naming the step or field.
func Parse(r io.Reader) (*Definition, []byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxDefinition+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > maxDefinition {
		return nil, nil, vise.Errorf(vise.CodeTooLarge, "pipeline definition is over %d KiB", maxDefinition>>10)
	}
	var d Definition
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, vise.Errorf(vise.CodeInvalid, "pipeline definition is empty")
		}
		return nil, nil, vise.Errorf(vise.CodeInvalid, "pipeline definition: %w", err)
	}
	d.setDefaults()
	if errs := d.check(); len(errs) > 0 {
		return nil, nil, vise.Errorf(vise.CodeInvalid, "pipeline definition %q: %s", d.Name, strings.Join(errs, "; "))
	}
	return &d, body, nil
}

// Digest identifies a definition's text.
func Digest(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func (d *Definition) setDefaults() {
	for i := range d.Steps {
		s := &d.Steps[i]
		if s.Timeout == 0 {
			s.Timeout = vise.Duration(DefaultTimeout)
		}
		if s.Retry.Attempts == 0 {
			s.Retry.Attempts = DefaultAttempts
		}
		if s.Retry.Backoff == 0 {
			s.Retry.Backoff = vise.Duration(DefaultBackoff)
		}
		if s.Retry.MaxBackoff == 0 {
			s.Retry.MaxBackoff = vise.Duration(DefaultMaxBackoff)
		}
	}
}

func (d *Definition) check() []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !nameRE.MatchString(d.Name) {
		bad("name %q must be lower-case letters, digits and dashes, starting with a letter", d.Name)
	}
	if len(d.Steps) == 0 {
		bad("no steps")
	}
	for name := range d.Params {
		if !nameRE.MatchString(strings.ReplaceAll(name, "_", "-")) {
			bad("parameter name %q must be lower-case letters, digits, dashes and underscores", name)
		}
	}
	seen := map[string]bool{}
	for i, s := range d.Steps {
		where := fmt.Sprintf("step %d (%s)", i+1, s.Name)
		switch {
		case !nameRE.MatchString(s.Name):
			bad("%s: name must be lower-case letters, digits and dashes", where)
		case seen[s.Name]:
			bad("%s: the name is used twice", where)
		}
		seen[s.Name] = true
		a, ok := actions[s.Action]
		if !ok {
			bad("%s: unknown action %q (known: %s)", where, s.Action, strings.Join(ActionNames(), ", "))
		} else if err := a.check(s.With); err != nil {
			bad("%s: %v", where, err)
		}
		if s.Retry.Attempts < 1 || s.Retry.Attempts > maxAttempts {
			bad("%s: retry attempts must be 1 to %d", where, maxAttempts)
		}
		if s.Timeout < 0 || s.Retry.Backoff < 0 || s.Retry.MaxBackoff < s.Retry.Backoff {
			bad("%s: timeout and backoff must be positive, and max_backoff at least backoff", where)
		}
		if s.End != "" && s.End != "succeeded" && s.End != "failed" {
			bad("%s: end %q: use succeeded or failed", where, s.End)
		}
	}
	for _, s := range d.Steps {
		for _, ref := range []string{s.Next, s.Catch} {
			if ref != "" && !seen[ref] {
				bad("step %s: goes to unknown step %q", s.Name, ref)
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if cycle := d.cycle(); cycle != nil {
		bad("steps form a cycle: %s (a pipeline must always move on; use a wait action to wait)", strings.Join(cycle, " -> "))
		return errs
	}
	reached := map[string]bool{}
	d.walk(d.Steps[0].Name, reached)
	for _, s := range d.Steps {
		if !reached[s.Name] {
			bad("step %s is never reached from the first step %s", s.Name, d.Steps[0].Name)
		}
	}
	return errs
}

// Step returns the named step.
func (d *Definition) Step(name string) (*Step, bool) {
	if d == nil {
		return nil, false
	}
	i := slices.IndexFunc(d.Steps, func(s Step) bool { return s.Name == name })
	if i < 0 {
		return nil, false
	}
	return &d.Steps[i], true
}

func (s *Step) edges() []string {
	var out []string
	for _, e := range []string{s.Next, s.Catch} {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

func (d *Definition) walk(name string, seen map[string]bool) {
	if seen[name] {
		return
	}
	seen[name] = true
	s, _ := d.Step(name)
	for _, e := range s.edges() {
		d.walk(e, seen)
	}
}

// cycle returns a path that loops, or nil: a depth-first search that
// keeps the path it is on.
func (d *Definition) cycle() []string {
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(name string) []string {
		mark[name] = onPath
		path = append(path, name)
		s, _ := d.Step(name)
		for _, e := range s.edges() {
			switch mark[e] {
			case onPath:
				return append(path[slices.Index(path, e):], e)
			case unseen:
				if c := visit(e); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		mark[name] = done
		return nil
	}
	for _, s := range d.Steps {
		if mark[s.Name] == unseen {
			if c := visit(s.Name); c != nil {
				return c
			}
		}
	}
	return nil
}

// Bind checks the parameters an execution is started with against the
// definition and fills defaults.
func (d *Definition) Bind(given map[string]string) (map[string]string, error) {
	out := map[string]string{}
	var unknown, missing []string
	for k, v := range given {
		if _, ok := d.Params[k]; !ok {
			unknown = append(unknown, k)
		}
		out[k] = v
	}
	for k, p := range d.Params {
		if _, ok := out[k]; ok {
			continue
		}
		if p.Required {
			missing = append(missing, k)
		} else {
			out[k] = p.Default
		}
	}
	sort.Strings(unknown)
	sort.Strings(missing)
	switch {
	case len(unknown) > 0:
		return nil, vise.Errorf(vise.CodeInvalid, "pipeline %s has no parameter %s (it takes: %s)", d.Name, strings.Join(unknown, ", "), d.paramNames())
	case len(missing) > 0:
		return nil, vise.Errorf(vise.CodeInvalid, "pipeline %s needs %s: pass --param %s=VALUE", d.Name, strings.Join(missing, ", "), missing[0])
	}
	return out, nil
}

func (d *Definition) paramNames() string {
	names := make([]string, 0, len(d.Params))
	for k := range d.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// backoff is the wait before attempt n+1 after attempt n failed.
func (s *Step) backoff(n int) time.Duration {
	b := time.Duration(s.Retry.Backoff)
	for i := 1; i < n && b < time.Duration(s.Retry.MaxBackoff); i++ {
		b *= 2
	}
	return min(b, time.Duration(s.Retry.MaxBackoff))
}

// registers reports whether a step of the pipeline registers a model.
func (d *Definition) registers() bool { return d.uses("register") }

// trains reports whether a step of the pipeline trains or evaluates, so
// its dataset parameters name dataset versions.
func (d *Definition) trains() bool { return d.uses("train") || d.uses("evaluate") }

func (d *Definition) uses(action string) bool {
	for _, s := range d.Steps {
		if s.Action == action {
			return true
		}
	}
	return false
}
