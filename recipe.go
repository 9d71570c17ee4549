package vise

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"

	"github.com/vise-edge/vise/deviceapi"
)

// Recipe is the immutable description of a component version: what to
// download, how to install, run, check and stop it, and what it needs.
type Recipe struct {
	Name          string                `json:"name" yaml:"name"`
	Version       string                `json:"version" yaml:"version"`
	Description   string                `json:"description,omitempty" yaml:"description,omitempty"`
	Artifacts     []RecipeArtifact      `json:"artifacts,omitempty" yaml:"artifacts,omitempty"`
	Lifecycle     Lifecycle             `json:"lifecycle,omitempty" yaml:"lifecycle,omitempty"`
	Dependencies  map[string]Dependency `json:"dependencies,omitempty" yaml:"dependencies,omitempty"`
	Configuration map[string]any        `json:"configuration,omitempty" yaml:"configuration,omitempty"`
}

// RecipeArtifact is a file the component needs on the device. In a recipe
// file, File names a local file the CLI uploads and fills SHA256 and Size from.
type RecipeArtifact struct {
	Name       string `json:"name" yaml:"name"`
	File       string `json:"file,omitempty" yaml:"file,omitempty"`
	SHA256     string `json:"sha256,omitempty" yaml:"sha256,omitempty"`
	Size       int64  `json:"size,omitempty" yaml:"size,omitempty"`
	Unpack     bool   `json:"unpack,omitempty" yaml:"unpack,omitempty"`
	Executable bool   `json:"executable,omitempty" yaml:"executable,omitempty"`
}

// Lifecycle holds the steps the agent runs; any may be absent (a model
// component has no run step).
type Lifecycle struct {
	Install  *Step `json:"install,omitempty" yaml:"install,omitempty"`
	Run      *Step `json:"run,omitempty" yaml:"run,omitempty"`
	Shutdown *Step `json:"shutdown,omitempty" yaml:"shutdown,omitempty"`
	Health   *Step `json:"health,omitempty" yaml:"health,omitempty"`
}

// Step is a shell script with a deadline.
type Step struct {
	Script   string   `json:"script" yaml:"script"`
	Timeout  Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	Interval Duration `json:"interval,omitempty" yaml:"interval,omitempty"` // health checks only
}

// Dependency on another component by semver range. A hard dependency must be
// deployed and healthy first; a soft one only orders start-up if present.
type Dependency struct {
	Version string `json:"version" yaml:"version"`
	Type    string `json:"type,omitempty" yaml:"type,omitempty"` // "hard" (default) or "soft"
}

const (
	maxRecipeBytes = 256 << 10
	maxStepTimeout = 24 * time.Hour
	maxArtifacts   = 64
	maxDeps        = 64
)

var artifactNameRE = lazyRegexp(`^[A-Za-z0-9._+-][A-Za-z0-9._+/-]{0,199}$`)

// ParseRecipe reads a recipe in YAML or JSON (JSON is YAML), refusing unknown
// fields so a typo such as "lifecyle" is an error, not a silently ignored key.
func ParseRecipe(data []byte) (*Recipe, error) {
	if len(data) > maxRecipeBytes {
		return nil, Errorf(CodeTooLarge, "recipe is %d bytes; the limit is %d", len(data), maxRecipeBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Errorf(CodeInvalid, "recipe is empty")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var r Recipe
	if err := dec.Decode(&r); err != nil {
		return nil, Errorf(CodeInvalid, "invalid recipe: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return nil, Errorf(CodeInvalid, "invalid recipe: more than one YAML document; put one recipe per file")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks everything that can be checked without the store. Artifacts
// must carry SHA256 and Size unless they still name a local File.
func (r *Recipe) Validate() error {
	bad := func(format string, args ...any) error {
		return Errorf(CodeInvalid, "invalid recipe %s@%s: %s", r.Name, r.Version, fmt.Sprintf(format, args...))
	}
	if err := ValidateName("component", r.Name); err != nil {
		return err
	}
	if _, err := semver.StrictNewVersion(r.Version); err != nil {
		return Errorf(CodeInvalid, "invalid recipe %s: version %q is not a semantic version such as 1.2.3", r.Name, r.Version)
	}
	if len(r.Artifacts) > maxArtifacts {
		return bad("%d artifacts; at most %d", len(r.Artifacts), maxArtifacts)
	}
	seen := map[string]bool{}
	for i, a := range r.Artifacts {
		if !artifactNameRE().MatchString(a.Name) || path.Clean(a.Name) != a.Name || strings.HasPrefix(a.Name, "../") || a.Name == ".." {
			return bad("artifact %d: name %q must be a relative path without '..'", i, a.Name)
		}
		if seen[a.Name] {
			return bad("artifact name %q appears twice", a.Name)
		}
		seen[a.Name] = true
		if a.File != "" {
			continue
		}
		if err := ValidateSHA256(a.SHA256); err != nil {
			return bad("artifact %q: %v", a.Name, err)
		}
		if a.Size < 0 {
			return bad("artifact %q: negative size", a.Name)
		}
	}
	for name, s := range map[string]*Step{"install": r.Lifecycle.Install, "run": r.Lifecycle.Run, "shutdown": r.Lifecycle.Shutdown, "health": r.Lifecycle.Health} {
		if s == nil {
			continue
		}
		if strings.TrimSpace(s.Script) == "" {
			return bad("lifecycle %s: script is empty", name)
		}
		if s.Timeout < 0 || time.Duration(s.Timeout) > maxStepTimeout || s.Interval < 0 {
			return bad("lifecycle %s: timeout must be between 0 and 24h", name)
		}
	}
	if len(r.Dependencies) > maxDeps {
		return bad("%d dependencies; at most %d", len(r.Dependencies), maxDeps)
	}
	for name, d := range r.Dependencies {
		if err := ValidateName("component", name); err != nil {
			return bad("dependency: %v", err)
		}
		if name == r.Name {
			return bad("it depends on itself")
		}
		if _, err := semver.NewConstraint(d.Version); err != nil {
			return bad("dependency %s: invalid semver range %q: %v", name, d.Version, err)
		}
		if d.Type != "" && d.Type != "hard" && d.Type != "soft" {
			return bad("dependency %s: type %q must be hard or soft", name, d.Type)
		}
	}
	if _, err := json.Marshal(r.Configuration); err != nil {
		return bad("configuration cannot be written as JSON: %v", err)
	}
	if r.Name == deviceapi.AgentComponent {
		if err := r.validateAgent(); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// validateAgent holds the device's own agent (decision 0021) to its shape:
// the agent runs itself, so its recipe is the binary alone, and how long
// a new binary has to prove itself is the one setting it takes.
func (r *Recipe) validateAgent() error {
	if len(r.Artifacts) != 1 || r.Artifacts[0].Name != deviceapi.AgentArtifact || !r.Artifacts[0].Executable {
		return fmt.Errorf("%s has exactly one artifact, %s, executable: true (the vise-agent binary)", r.Name, deviceapi.AgentArtifact)
	}
	if r.Lifecycle != (Lifecycle{}) || len(r.Dependencies) > 0 {
		return fmt.Errorf("%s takes no lifecycle steps and no dependencies: the agent starts, checks and stops itself", r.Name)
	}
	for k, v := range r.Configuration {
		if k != deviceapi.CandidateTimeoutKey {
			return fmt.Errorf("%s: unknown configuration key %q; the only one is %s", r.Name, k, deviceapi.CandidateTimeoutKey)
		}
		s, _ := v.(string)
		if d, err := time.ParseDuration(s); err != nil || d <= 0 || d > time.Hour {
			return fmt.Errorf("%s: %s %v: give a duration between 1s and 1h, such as \"60s\"", r.Name, k, v)
		}
	}
	return nil
}

// HardDependency reports whether d must be present and healthy first.
func (d Dependency) Hard() bool { return d.Type != "soft" }

// Canonical is the recipe as stored and signed: JSON with sorted keys and
// without local file paths. Equal recipes have equal bytes.
func (r *Recipe) Canonical() ([]byte, error) {
	c := *r
	c.Artifacts = make([]RecipeArtifact, len(r.Artifacts))
	for i, a := range r.Artifacts {
		a.File = ""
		c.Artifacts[i] = a
	}
	b, err := json.Marshal(c) // maps marshal with sorted keys
	if err != nil {
		return nil, fmt.Errorf("canonical recipe: %w", err)
	}
	return b, nil
}

// Digest is the sha256 of the canonical recipe.
func (r *Recipe) Digest() (string, error) {
	b, err := r.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// DependencyNames returns the dependency names in a stable order.
func (r *Recipe) DependencyNames() []string {
	names := make([]string, 0, len(r.Dependencies))
	for n := range r.Dependencies {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ComponentVersion is a stored recipe.
type ComponentVersion struct {
	Recipe    Recipe    `json:"recipe"`
	Digest    string    `json:"digest"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// ComponentSummary is one line of a component listing.
type ComponentSummary struct {
	Name          string    `json:"name"`
	LatestVersion string    `json:"latest_version"`
	VersionCount  int       `json:"version_count"`
	UpdatedAt     time.Time `json:"updated_at"`
}
