package pipeline

import (
	"time"

	"github.com/vise-edge/vise/datasets"
	"github.com/vise-edge/vise/fleet"
	"github.com/vise-edge/vise/registry"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/train"
)

// env is what an action may use: the services it calls and where it
// works. The Engine's job queue, definitions and waiters stay out of an
// action's reach. A struct, not an interface: there is one implementation,
// and tests build the real services.
type env struct {
	store    *store.Store
	reg      *registry.Registry
	fleet    *fleet.Fleet
	datasets *datasets.Service
	training train.Config
	workDir  string
	now      func() time.Time
}
