package deviceapi

import (
	"encoding/json"
	"time"
)

// Document is what a device is told to run: the signed form of a
// deployment. A device verifies its exact bytes against the signed release
// metadata, then decodes it.
type Document struct {
	ID            string                    `json:"id"`
	Target        Target                    `json:"target"`
	Components    []DocumentComponent       `json:"components"`
	Configuration map[string]map[string]any `json:"configuration,omitempty"`
	// Rollout is the server's rollout policy, carried for the record; a
	// device does not act on it.
	Rollout       json.RawMessage `json:"rollout"`
	FailurePolicy string          `json:"failure_policy"`
	CreatedAt     time.Time       `json:"created_at"`
}

// Target is what a deployment is for: a device or a group.
type Target struct {
	Kind string `json:"kind"` // "device" or "group"
	Name string `json:"name"`
}

func (t Target) String() string { return t.Kind + ":" + t.Name }

// DocumentComponent pins a component version to its recipe digest.
type DocumentComponent struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	RecipeDigest string `json:"recipe_digest"`
}
