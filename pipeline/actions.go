package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/vise-edge/vise/deviceapi"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vise-edge/vise"
)

// An action is what a step does. Actions are idempotent: a step that ran
// but was not recorded (a crash between the two) runs again and finds its
// work done.
type action struct {
	// with lists the settings the action accepts in a step's `with`.
	with     map[string]kind
	required []string // settings that must be given
	waits    bool     // checks a condition until it holds: the step's timeout bounds the whole wait
	run      func(ctx context.Context, e *env, r *run) (outcome, error)
}

type kind int

const (
	kindFraction kind = iota
	kindDuration
	kindInt
	kindSplit // validation or benchmark
)

// run is what an action sees: the execution, its step, and the state it
// may add to.
type run struct {
	exec    *vise.Execution
	step    *Step
	started time.Time // when the step first started
	state   map[string]any
	last    json.RawMessage // the step's output when it last waited or failed
	attempt int             // this attempt's number, for progress notes
}

func (r *run) param(name string) string { return r.exec.Params[name] }

// outcome is an action's result: output for the history (merged into the
// execution's state), or a wait that goes on, or a quiet end.
type outcome struct {
	output map[string]any
	wait   bool // not yet: check again later
	halt   bool // nothing to do: the execution ends, succeeded
}

// permanent marks an error retrying cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

func fail(format string, args ...any) error { return permanent{fmt.Errorf(format, args...)} }

// unlessUnavailable marks err permanent unless it is the database or
// another service being briefly unavailable, which a retry may outlast.
func unlessUnavailable(err error) error {
	if err == nil || vise.ErrorCode(err) == vise.CodeUnavailable {
		return err
	}
	return permanent{err}
}

var actions = map[string]action{
	"prepare-model":   {run: prepareModel},
	"deploy":          {with: map[string]kind{"fraction": kindFraction}, run: deploy},
	"wait-deployment": {with: map[string]kind{"max_failure_rate": kindFraction}, waits: true, run: waitDeployment},
	"verify":          {with: map[string]kind{"min_results": kindInt}, waits: true, run: verify},
	"rollback":        {run: rollback},
	"wait":            {with: map[string]kind{"duration": kindDuration}, required: []string{"duration"}, waits: true, run: wait},
	"train":           {run: trainModel},
	"evaluate":        {with: map[string]kind{"on": kindSplit}, required: []string{"on"}, run: evaluate},
	"gate":            {with: map[string]kind{"max_drop": kindFraction}, run: gate},
	"register":        {run: register},
}

// ActionNames lists the actions a step can use.
func ActionNames() []string {
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (a action) check(with map[string]any) error {
	for _, k := range a.required {
		if _, ok := with[k]; !ok {
			return fmt.Errorf("needs the setting %s", k)
		}
	}
	for k, v := range with {
		kd, ok := a.with[k]
		if !ok {
			return fmt.Errorf("unknown setting %q", k)
		}
		if err := checkKind(kd, v); err != nil {
			return fmt.Errorf("setting %s: %w", k, err)
		}
	}
	return nil
}

func checkKind(kd kind, v any) error {
	switch kd {
	case kindFraction:
		f, ok := number(v)
		if !ok || f < 0 || f > 1 {
			return fmt.Errorf("%v is not a number from 0 to 1", v)
		}
	case kindInt:
		f, ok := number(v)
		if !ok || f < 0 || f != math.Trunc(f) {
			return fmt.Errorf("%v is not a whole number", v)
		}
	case kindSplit:
		if v != splitValidation && v != splitBenchmark {
			return fmt.Errorf("%v: use %s or %s", v, splitValidation, splitBenchmark)
		}
	case kindDuration:
		s, _ := v.(string)
		if d, err := time.ParseDuration(s); err != nil || d <= 0 {
			return fmt.Errorf("%v is not a duration such as 30s", v)
		}
	}
	return nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func (r *run) number(key string, def float64) float64 {
	if f, ok := number(r.step.With[key]); ok {
		return f
	}
	return def
}

// prepareModel makes a signed model component from the newest approved
// version of the model group (of the execution's variant, if it names
// one), or ends the execution quietly when none is approved.
func prepareModel(ctx context.Context, e *env, r *run) (outcome, error) {
	group, variant := r.param("model"), r.param("variant")
	mv, err := latestApproved(ctx, e, group, variant)
	if vise.ErrorCode(err) == vise.CodeNotFound {
		what := "approved"
		if variant != "" {
			what = "approved " + variant
		}
		return outcome{halt: true, output: map[string]any{"note": "no " + what + " version of model " + group + ": nothing to deploy"}}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	rc := ModelComponent(mv)
	if _, _, err := e.reg.CreateComponent(ctx, rc, "pipeline"); err != nil {
		return outcome{}, err
	}
	return outcome{output: map[string]any{"model_version": mv.Version, "model_sha256": mv.Artifact.SHA256,
		"model_component": vise.ComponentRef{Name: rc.Name, Version: rc.Version}.String()}}, nil
}

// Variants edge-deploy's variant parameter takes; empty means the newest
// approved version whatever it is.
const (
	variantInt8  = vise.VariantInt8
	variantFloat = "float"
)

// latestApproved is the newest approved version of group of the variant.
func latestApproved(ctx context.Context, e *env, group, variant string) (*vise.ModelVersion, error) {
	switch variant {
	case "":
		return e.store.LatestModelVersion(ctx, group, vise.Approved)
	case variantInt8, variantFloat:
	default:
		return nil, fail("variant %q: use %s or %s, or leave it empty for the newest approved version", variant, variantInt8, variantFloat)
	}
	vs, err := e.store.ListModelVersions(ctx, group)
	if err != nil {
		return nil, err
	}
	for _, mv := range vs { // newest first
		isInt8 := mv.Lineage.Variant == vise.VariantInt8
		if mv.Approval.Status == vise.Approved && isInt8 == (variant == variantInt8) {
			return mv, nil
		}
	}
	return nil, vise.Errorf(vise.CodeNotFound, "model %s has no approved %s version", group, variant)
}

// ModelComponent is the component a model version is deployed as.
func ModelComponent(mv *vise.ModelVersion) *vise.Recipe {
	return &vise.Recipe{Name: "vise.model." + mv.Group, Version: fmt.Sprintf("%d.0.0", mv.Version),
		Description: fmt.Sprintf("model %s version %d", mv.Group, mv.Version),
		Artifacts:   []vise.RecipeArtifact{{Name: "model.onnx", SHA256: mv.Artifact.SHA256, Size: mv.Artifact.Size}}}
}

// deploy creates a deployment of the prepared model and the newest
// inference component to the target, or with `fraction` below 1 to that
// share of a group's devices first (a canary). The first deploy of an
// execution remembers what the target ran before, for rollback.
func deploy(ctx context.Context, e *env, r *run) (outcome, error) {
	target, _, err := vise.ParseTarget(r.param("target"))
	if err != nil {
		return outcome{}, permanent{err}
	}
	model, _ := r.state["model_component"].(string)
	if model == "" {
		return outcome{}, fail("no model component prepared: a deploy step must follow prepare-model")
	}
	comps := []vise.ComponentRef{vise.ParseComponentRef(model)}
	if inf := r.param("inference"); inf != "" {
		vs, err := e.store.ListComponentVersions(ctx, inf)
		if vise.ErrorCode(err) == vise.CodeNotFound {
			return outcome{}, permanent{fmt.Errorf("inference component: %w", err)}
		}
		if err != nil {
			return outcome{}, err
		}
		comps = append([]vise.ComponentRef{{Name: inf, Version: vs[0].Recipe.Version}}, comps...)
	}
	out := map[string]any{}
	if _, ok := r.state["previous_components"]; !ok {
		out["previous_components"] = e.previousComponents(ctx, target)
	}
	devices, err := stageDevices(ctx, e, target, r.number("fraction", 1))
	if err != nil {
		return outcome{}, unlessUnavailable(err)
	}
	d, err := e.deployOnce(ctx, r, vise.CreateDeploymentRequest{Target: target, Components: comps, Devices: devices})
	if err != nil {
		return outcome{}, err
	}
	out["deployment"] = d.ID
	return outcome{output: out}, nil
}

// stageDevices picks the first share of a group's devices by name; nil
// means the whole target.
func stageDevices(ctx context.Context, e *env, t vise.Target, fraction float64) ([]string, error) {
	if fraction >= 1 || t.Kind != vise.TargetGroup {
		return nil, nil
	}
	all, err := e.fleet.TargetDevices(ctx, t)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("group %s has no devices", t.Name)
	}
	names := slices.Sorted(slices.Values(all))
	n := max(1, int(math.Ceil(fraction*float64(len(names)))))
	return names[:n], nil
}

// deployOnce creates the step's deployment unless an earlier try of the
// same step already did (found by its creator, which names the step).
func (e *env) deployOnce(ctx context.Context, r *run, req vise.CreateDeploymentRequest) (*vise.Deployment, error) {
	by := "pipeline " + r.exec.ID + "/" + r.step.Name
	ds, err := e.store.ListDeployments(ctx, &req.Target, 50)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.CreatedBy == by {
			return d, nil
		}
	}
	d, err := e.fleet.CreateDeployment(ctx, req, by)
	return d, unlessUnavailable(err)
}

// previousComponents is what the target last ran successfully, or nil.
func (e *env) previousComponents(ctx context.Context, t vise.Target) []string {
	ds, err := e.store.ListDeployments(ctx, &t, 100)
	if err != nil {
		return nil
	}
	for _, d := range ds {
		if d.Status == vise.DeploymentSucceeded {
			var refs []string
			for _, c := range d.Components {
				refs = append(refs, c.String())
			}
			return refs
		}
	}
	return nil
}

// waitDeployment waits until every device of the step's deployment runs it,
// failing as soon as the failed share passes max_failure_rate.
func waitDeployment(ctx context.Context, e *env, r *run) (outcome, error) {
	id, _ := r.state["deployment"].(string)
	if id == "" {
		return outcome{output: map[string]any{"note": "no deployment to wait for"}}, nil
	}
	d, err := e.store.GetDeployment(ctx, id)
	if err != nil {
		return outcome{}, err
	}
	var running, failed int
	var failures, open []string
	for _, dd := range d.Devices {
		switch dd.State {
		case vise.DeviceRunning:
			running++
		case vise.DeviceFailed, vise.DeviceRolledBack:
			failed++
			failures = append(failures, dd.Device+": "+dd.Message)
		default:
			open = append(open, dd.Device+" "+string(dd.State))
		}
	}
	progress := map[string]any{"deployment": id, "running": running, "failed": failed, "devices": len(d.Devices), "waiting_for": open}
	total := len(d.Devices)
	if total > 0 && float64(failed)/float64(total) > r.number("max_failure_rate", 0) {
		return outcome{output: progress}, fail("deployment %s: %d of %d devices failed (%s)", id, failed, total, strings.Join(failures, "; "))
	}
	if d.Status == vise.DeploymentSuperseded || d.Status == vise.DeploymentCanceled {
		return outcome{output: progress}, fail("deployment %s was %s: %s", id, strings.ToLower(string(d.Status)), d.Message)
	}
	if len(open) > 0 {
		return outcome{wait: true, output: progress}, nil
	}
	return outcome{output: progress}, nil
}

// verifyProgress is the verify step's output, and its memory between
// checks: devices that passed are not looked at again, and each other
// device's results are read only from where the last check stopped.
type verifyProgress struct {
	Deployment string                  `json:"deployment"`
	Devices    int                     `json:"devices"`
	Unverified []string                `json:"unverified"`
	Verified   []string                `json:"verified"`
	Counted    map[string]resultsSoFar `json:"counted,omitempty"`
}

// resultsSoFar counts a device's results of the new model up to After,
// the newest one read.
type resultsSoFar struct {
	N     int       `json:"n"`
	After time.Time `json:"after"`
}

// verify waits until every device of the deployment is healthy and has
// sent at least min_results results made by the new model.
func verify(ctx context.Context, e *env, r *run) (outcome, error) {
	id, _ := r.state["deployment"].(string)
	sha, _ := r.state["model_sha256"].(string)
	if id == "" || sha == "" {
		return outcome{}, fail("nothing to verify: a verify step must follow prepare-model and deploy")
	}
	d, err := e.store.GetDeployment(ctx, id)
	if err != nil {
		return outcome{}, err
	}
	var p verifyProgress
	if json.Unmarshal(r.last, &p) != nil || p.Deployment != id {
		p = verifyProgress{} // first check, or of another deployment
	}
	p.Deployment, p.Devices, p.Unverified = id, len(d.Devices), []string{}
	if p.Counted == nil {
		p.Counted = map[string]resultsSoFar{}
	}
	need := int(r.number("min_results", 1))
	for _, dd := range d.Devices {
		if slices.Contains(p.Verified, dd.Device) {
			continue
		}
		if why := e.unverified(ctx, dd, d, sha, need, p.Counted); why != "" {
			p.Unverified = append(p.Unverified, dd.Device+": "+why)
			continue
		}
		p.Verified = append(p.Verified, dd.Device)
		delete(p.Counted, dd.Device)
	}
	out, _ := toMap(p)
	return outcome{wait: len(p.Unverified) > 0, output: out}, nil
}

// toMap turns a step's typed output into the map the history stores.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// unverified says why a device does not pass yet, or "". It counts the
// device's results of the new model that arrived since the last check into
// counted.
func (e *env) unverified(ctx context.Context, dd vise.DeviceDeployment, d *vise.Deployment, sha string, need int, counted map[string]resultsSoFar) string {
	if dd.State != vise.DeviceRunning {
		return "deployment state " + string(dd.State)
	}
	dev, err := e.store.GetDevice(ctx, dd.Device)
	if err != nil {
		return err.Error()
	}
	var st deviceapi.Status
	json.Unmarshal(dev.Status, &st)
	for name, state := range st.Components {
		if state == "BROKEN" || state == "ERRORED" {
			return "component " + name + " is " + state
		}
	}
	c := counted[dd.Device]
	since := d.CreatedAt
	if !c.After.IsZero() {
		since = c.After.Add(time.Microsecond) // received_at has microseconds
	}
	rs, err := e.store.ListResults(ctx, dd.Device, since, 500)
	if err != nil {
		return err.Error()
	}
	for _, res := range rs {
		var p struct {
			Model struct {
				SHA256 string `json:"sha256"`
			} `json:"model"`
			Error string `json:"error"`
		}
		if json.Unmarshal(res.Payload, &p) == nil && p.Model.SHA256 == sha && p.Error == "" {
			c.N++
		}
		if res.ReceivedAt.After(c.After) {
			c.After = res.ReceivedAt
		}
	}
	counted[dd.Device] = c
	if c.N < need {
		return fmt.Sprintf("%d of %d results from the new model so far", c.N, need)
	}
	return ""
}

// rollback deploys to the whole target what it ran before the execution's
// first deploy. With nothing before, there is nothing to return to.
func rollback(ctx context.Context, e *env, r *run) (outcome, error) {
	target, _, err := vise.ParseTarget(r.param("target"))
	if err != nil {
		return outcome{}, permanent{err}
	}
	prev, _ := r.state["previous_components"].([]any)
	if len(prev) == 0 {
		return outcome{output: map[string]any{"deployment": "", "note": "the target had no earlier successful deployment: nothing to roll back to"}}, nil
	}
	var comps []vise.ComponentRef
	for _, p := range prev {
		comps = append(comps, vise.ParseComponentRef(fmt.Sprint(p)))
	}
	d, err := e.deployOnce(ctx, r, vise.CreateDeploymentRequest{Target: target, Components: comps})
	if err != nil {
		return outcome{}, err
	}
	return outcome{output: map[string]any{"deployment": d.ID, "rolled_back_to": prev}}, nil
}

// wait waits for `duration` from the step's start.
func wait(_ context.Context, e *env, r *run) (outcome, error) {
	d, _ := time.ParseDuration(fmt.Sprint(r.step.With["duration"]))
	if e.now().Before(r.started.Add(d)) {
		return outcome{wait: true}, nil
	}
	return outcome{}, nil
}
