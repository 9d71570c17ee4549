// Package pipeline runs pipelines durably: versioned YAML definitions of
// steps (actions with retries, backoff, timeouts, waits and a catch step)
// executed as River jobs in the server's own database. A step's result, the
// execution's next state and the next step's job commit in one
// transaction, so an execution survives a crash or kill -9 of the server
// and resumes where it was, without repeating finished steps.
package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/datasets"
	"github.com/vise-edge/vise/fleet"
	"github.com/vise-edge/vise/registry"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/train"
)

// Options configure New; zero values get the defaults noted.
type Options struct {
	Store    *store.Store
	Registry *registry.Registry
	Fleet    *fleet.Fleet
	// Datasets holds the dataset versions the train, evaluate and gate
	// actions export into WorkDir.
	Datasets *datasets.Service
	Logger   *slog.Logger
	// Poll is how often a waiting step checks again. Default 1s.
	Poll time.Duration
	// RescueAfter is how long a step may be running before it counts as
	// abandoned by a server that died, and runs again. Default
	// DefaultRescueAfter; it must exceed every step's timeout (retrain's
	// train step runs up to an hour).
	RescueAfter time.Duration
	// Training is where the trainer, Python and vise-infer are, for the
	// train, evaluate and gate actions; without Script and Infer the
	// server does not train (those steps fail saying so).
	Training train.Config
	// WorkDir holds a training run's files while its step runs; what a
	// killed server left there is removed at start. Default a new
	// temporary directory.
	WorkDir string
	// Workers is how many steps run at once. Default 4.
	Workers int
	Now     func() time.Time
}

// Engine starts and runs executions.
type Engine struct {
	env
	log   *slog.Logger
	poll  time.Duration
	river *river.Client[*sql.Tx]
	defs  sync.Map // "name/version" -> *Definition

	mu      sync.Mutex
	waiters map[string]*waiter // deployment id -> the step waiting on it
}

// New migrates River's tables, stores the built-in edge-deploy and retrain
// pipelines if there are none of those names yet, and hooks model
// approvals to their targets' pipelines. Call Start to run steps.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Poll = orDefault(opts.Poll, time.Second)
	opts.RescueAfter = orDefault(opts.RescueAfter, DefaultRescueAfter)
	if err := prepareWorkDir(&opts.WorkDir); err != nil {
		return nil, err
	}
	if opts.Workers == 0 {
		opts.Workers = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{env: env{store: opts.Store, reg: opts.Registry, fleet: opts.Fleet, now: opts.Now,
		training: opts.Training, datasets: opts.Datasets, workDir: opts.WorkDir}, log: opts.Logger, poll: opts.Poll,
		waiters: map[string]*waiter{}}
	driver, err := openQueue(ctx, opts.Store, opts.Logger)
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &stepWorker{e: e})
	river.AddWorker(workers, &startWorker{e: e})
	e.river, err = river.NewClient(driver, &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers}},
		Workers:              workers,
		Logger:               quiet(opts.Logger),
		FetchPollInterval:    min(opts.Poll, 250*time.Millisecond),
		FetchCooldown:        min(opts.Poll, 50*time.Millisecond),
		JobTimeout:           -1, // each step has its own (stepWorker.Timeout)
		RescueStuckJobsAfter: opts.RescueAfter,
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline job queue: %w", err)
	}
	for _, b := range []struct{ name, body string }{{"edge-deploy", EdgeDeployYAML}, {"retrain", RetrainYAML}} {
		if err := e.builtIn(ctx, b.name, b.body); err != nil {
			return nil, err
		}
	}
	e.store.OnEvent(e.onEvent)
	return e, nil
}

// prepareWorkDir makes the work folder, or a temporary one, and removes
// the files of steps a killed server left (steps remove their own).
func prepareWorkDir(dir *string) error {
	if *dir == "" {
		d, err := os.MkdirTemp("", "vise-pipeline-")
		*dir = d
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("pipeline work folder: %w", err)
	}
	entries, err := os.ReadDir(*dir)
	if err != nil {
		return fmt.Errorf("pipeline work folder: %w", err)
	}
	for _, en := range entries {
		os.RemoveAll(filepath.Join(*dir, en.Name()))
	}
	return nil
}

// DefaultRescueAfter exceeds the longest built-in step (retrain's train,
// an hour) with room for its bookkeeping.
const DefaultRescueAfter = 70 * time.Minute

// builtIn stores a built-in pipeline if there is none of its name yet.
func (e *Engine) builtIn(ctx context.Context, name, body string) error {
	_, err := e.store.GetDefinition(ctx, name, 0)
	if vise.ErrorCode(err) != vise.CodeNotFound {
		return err
	}
	if _, _, err := e.Apply(ctx, []byte(body), "vise"); err != nil {
		return fmt.Errorf("built-in %s pipeline: %w", name, err)
	}
	return nil
}

// openQueue gives River the store's writer pool, migrates River's tables,
// and on SQLite reclaims what a dead server left.
func openQueue(ctx context.Context, st *store.Store, log *slog.Logger) (riverdriver.Driver[*sql.Tx], error) {
	var driver riverdriver.Driver[*sql.Tx]
	if st.Engine() == store.Postgres {
		driver = riverdatabasesql.New(st.DB())
	} else {
		driver = riversqlite.New(st.DB())
	}
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quiet(log)})
	if err != nil {
		return nil, fmt.Errorf("pipeline job queue: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, vise.Errorf(vise.CodeUnavailable, "pipeline job queue: migrate: %w", err)
	}
	if st.Engine() == store.SQLite {
		if err := reclaim(ctx, st.DB(), log); err != nil {
			return nil, err
		}
	}
	return driver, nil
}

// reclaim takes back, at start, what a server that died left in a SQLite
// database: one server owns it (the store is its single writer), so a job
// still running was cut off by a crash or kill -9, and the leader lease is
// that dead server's. Waiting them out (RescueAfter, the lease's expiry)
// would only delay the executions.
func reclaim(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	res, err := db.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
		WHERE state = 'running'`)
	if err != nil {
		return fmt.Errorf("pipeline job queue: reclaim running steps: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		log.Warn("pipeline steps cut off by the last shutdown run again", "steps", n)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM river_leader`); err != nil {
		return fmt.Errorf("pipeline job queue: clear leader: %w", err)
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// quiet keeps River's own logging to warnings and errors: its routine
// chatter would drown the server's log.
func quiet(l *slog.Logger) *slog.Logger { return slog.New(levelHandler{l.Handler(), slog.LevelWarn}) }

type levelHandler struct {
	slog.Handler
	min slog.Level
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// Start runs steps in the background until Stop.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.river.Start(ctx); err != nil {
		return fmt.Errorf("pipeline engine: %w", err)
	}
	return nil
}

// Stop lets running steps finish for up to ten seconds, then cancels them;
// a cancelled step runs again at the next start.
func (e *Engine) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.river.Stop(ctx); err != nil {
		return e.river.StopAndCancel(context.Background())
	}
	return nil
}

// Apply checks a definition and stores it as the pipeline's next version;
// unchanged text is no new version (created is false).
func (e *Engine) Apply(ctx context.Context, body []byte, by string) (*vise.PipelineDefinition, bool, error) {
	d, body, err := Parse(strings.NewReader(string(body)))
	if err != nil {
		return nil, false, err
	}
	return e.store.PutDefinition(ctx, vise.PipelineDefinition{Name: d.Name, Description: d.Description, Body: string(body),
		Digest: Digest(body), CreatedBy: by})
}

// definition returns a parsed definition version, cached: versions never change.
func (e *Engine) definition(ctx context.Context, name string, version int) (*Definition, int, error) {
	if version > 0 {
		if d, ok := e.defs.Load(fmt.Sprint(name, "/", version)); ok {
			return d.(*Definition), version, nil
		}
	}
	pd, err := e.store.GetDefinition(ctx, name, version)
	if err != nil {
		return nil, 0, err
	}
	d, _, err := Parse(strings.NewReader(pd.Body))
	if err != nil {
		return nil, 0, err
	}
	e.defs.Store(fmt.Sprint(pd.Name, "/", pd.Version), d)
	return d, pd.Version, nil
}

// Run starts an execution of the newest version of a pipeline. Parameters
// are checked first, and a target or model that does not exist is an
// error here rather than a failed execution.
func (e *Engine) Run(ctx context.Context, name string, params map[string]string, cause string) (*vise.Execution, error) {
	return e.start(ctx, name, params, cause, nil)
}

func (e *Engine) start(ctx context.Context, name string, params map[string]string, cause string, then func(*sql.Tx) error) (*vise.Execution, error) {
	d, version, err := e.definition(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	bound, err := d.Bind(params)
	if err != nil {
		return nil, err
	}
	if err := e.checkParams(ctx, d, bound); err != nil {
		return nil, err
	}
	first := &d.Steps[0]
	x := &vise.Execution{Pipeline: name, Version: version, Params: bound, Step: first.Name, Cause: cause}
	err = e.store.CreateExecution(ctx, x, func(tx *sql.Tx) error {
		if err := e.queue(ctx, tx, x.ID, first); err != nil {
			return err
		}
		if then != nil {
			return then(tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.log.Info("pipeline execution started", "execution", x.ID, "pipeline", name, "version", version, "cause", cause)
	return x, nil
}

// checkParams looks up what the conventional parameters name. A model
// need not exist yet for a pipeline that registers one (retrain makes a
// group's first version); a dataset or benchmark must be a version there
// is.
func (e *Engine) checkParams(ctx context.Context, d *Definition, params map[string]string) error {
	if m, ok := params["model"]; ok {
		if _, err := e.store.GetModelGroup(ctx, m); err != nil && !(vise.ErrorCode(err) == vise.CodeNotFound && d.registers()) {
			return err
		}
	}
	for _, p := range []string{"dataset", "benchmark"} {
		if ref := params[p]; ref != "" && d.trains() && e.datasets != nil {
			name, version, err := datasets.ParseRef(ref)
			if err == nil {
				_, err = e.datasets.Get(ctx, name, version)
			}
			if err != nil {
				return vise.Errorf(vise.ErrorCode(err), "%s %q: %s (give a dataset version, NAME@VERSION: 'vise dataset list' shows them)", p, ref, vise.ErrorMessage(err))
			}
		}
	}
	if s, ok := params["target"]; ok {
		t, err := e.CheckTarget(ctx, s)
		if err != nil {
			return err
		}
		if s != t.String() {
			e.log.Warn(vise.TargetDeprecation(s, t))
			params["target"] = t.String()
		}
	}
	return nil
}

// CheckTarget checks that "group:NAME" or "device:NAME" exists and
// returns it.
func (e *Engine) CheckTarget(ctx context.Context, s string) (vise.Target, error) {
	t, _, err := vise.ParseTarget(s)
	if err != nil {
		return t, err
	}
	_, err = e.fleet.TargetDevices(ctx, t)
	return t, err
}

// Cancel ends a running execution.
func (e *Engine) Cancel(ctx context.Context, id, by string) (*vise.Execution, error) {
	x, err := e.store.CancelExecution(ctx, id, by)
	if err == nil {
		e.log.Info("pipeline execution canceled", "execution", id, "by", by)
	}
	return x, err
}

// queue inserts the job that runs step s of an execution, in tx.
func (e *Engine) queue(ctx context.Context, tx *sql.Tx, execID string, s *Step) error {
	_, err := e.river.InsertTx(ctx, tx, stepArgs{Execution: execID, Step: s.Name, Action: s.Action,
		Timeout: time.Duration(s.Timeout), Backoff: time.Duration(s.Retry.Backoff), MaxBackoff: time.Duration(s.Retry.MaxBackoff)},
		&river.InsertOpts{MaxAttempts: s.Retry.Attempts})
	return err
}

// onEvent runs in the transaction that approves a model version: it queues
// a start of each pipeline configured for the model group, so an approval
// and its deployment pipelines commit together.
func (e *Engine) onEvent(ctx context.Context, tx *sql.Tx, ev vise.Event) error {
	if ev.Type != vise.EventModelApproved {
		return nil
	}
	group, _, _ := strings.Cut(ev.Subject, "/")
	targets, err := e.store.ModelTargets(ctx, group)
	if err != nil {
		return err
	}
	for _, t := range targets {
		args := startArgs{Pipeline: t.Pipeline, Params: map[string]string{"model": group, "target": t.Target},
			Cause: "model " + ev.Subject + " approved"}
		if _, err := e.river.InsertTx(ctx, tx, args, &river.InsertOpts{MaxAttempts: 5}); err != nil {
			return err
		}
	}
	return nil
}

// startArgs is the job that starts an execution after an approval.
type startArgs struct {
	Pipeline string            `json:"pipeline"`
	Params   map[string]string `json:"params"`
	Cause    string            `json:"cause"`
}

func (startArgs) Kind() string { return "vise.pipeline.start" }

type startWorker struct {
	river.WorkerDefaults[startArgs]
	e *Engine
}

func (w *startWorker) Work(ctx context.Context, job *river.Job[startArgs]) error {
	a := job.Args
	_, err := w.e.start(ctx, a.Pipeline, a.Params, a.Cause, func(tx *sql.Tx) error { return complete(ctx, tx, job) })
	if err != nil && vise.ErrorCode(err) != vise.CodeUnavailable {
		w.e.log.Warn("pipeline not started after approval", "pipeline", a.Pipeline, "params", a.Params, "err", err)
		return river.JobCancel(err)
	}
	return err
}

// complete marks a job done in tx. JobCompleteTx's driver type parameter
// only fixes the transaction type; the client in ctx does the work, so
// the SQLite driver's type serves PostgreSQL too.
func complete[T river.JobArgs](ctx context.Context, tx *sql.Tx, job *river.Job[T]) error {
	_, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job)
	return err
}

// jitter spreads retries of many steps apart by up to a tenth.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}
