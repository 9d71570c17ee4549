// Package fleet holds devices, device groups and deployments: it checks a
// deployment request, resolves its component versions and their hard
// dependencies, fixes the devices it targets, and signs the deployment
// document each device verifies before acting on it.
package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/vise-edge/vise/deviceapi"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/pki"
	"github.com/vise-edge/vise/release"
	"github.com/vise-edge/vise/store"
)

// Signer adds targets to the signed release metadata.
type Signer interface {
	AddTargets(targets ...release.Target) error
}

// Options configure a Fleet; Store, Signer and CA are required.
type Options struct {
	Store  *store.Store
	Signer Signer
	CA     *pki.CA
	// OnRevoke is called after a device is revoked, to cut it off; what it
	// returns (an external broker's CRL, if one is kept) goes into the
	// Revocation.
	OnRevoke func(ctx context.Context, device string) *vise.CRLUpdate
	// Announce is called once a new deployment's document is signed, to
	// tell its devices: not at commit, when a device would find it unsigned.
	Announce func(d *vise.Deployment)
	Logger   *slog.Logger // default: discard
}

// Fleet is safe for concurrent use.
type Fleet struct {
	store    *store.Store
	signer   Signer
	ca       *pki.CA
	onRevoke func(ctx context.Context, device string) *vise.CRLUpdate
	announce func(d *vise.Deployment)
	log      *slog.Logger
	docs     docCache
}

// New makes a Fleet.
func New(opts Options) *Fleet {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Fleet{store: opts.Store, signer: opts.Signer, ca: opts.CA, onRevoke: opts.OnRevoke, announce: opts.Announce, log: opts.Logger}
}

// CreateDevice adds a device record.
func (f *Fleet) CreateDevice(ctx context.Context, req vise.CreateDeviceRequest) (*vise.Device, error) {
	if err := vise.ValidateName("device", req.Name); err != nil {
		return nil, err
	}
	for _, g := range req.Groups {
		if err := vise.ValidateName("group", g); err != nil {
			return nil, err
		}
	}
	return f.store.CreateDevice(ctx, req)
}

// CreateGroup adds a device group.
func (f *Fleet) CreateGroup(ctx context.Context, req vise.CreateGroupRequest) (*vise.Group, error) {
	if err := vise.ValidateName("group", req.Name); err != nil {
		return nil, err
	}
	return f.store.CreateGroup(ctx, req)
}

func (f *Fleet) Devices(ctx context.Context) ([]*vise.Device, error) { return f.store.ListDevices(ctx) }
func (f *Fleet) Device(ctx context.Context, name string) (*vise.Device, error) {
	return f.store.GetDevice(ctx, name)
}
func (f *Fleet) Groups(ctx context.Context) ([]*vise.Group, error) { return f.store.ListGroups(ctx) }
func (f *Fleet) Group(ctx context.Context, name string) (*vise.Group, error) {
	return f.store.GetGroup(ctx, name)
}
func (f *Fleet) AddGroupMember(ctx context.Context, group, device string) error {
	return f.store.AddGroupMember(ctx, group, device)
}

// CreateDeployment checks req, resolves its components and stores it.
func (f *Fleet) CreateDeployment(ctx context.Context, req vise.CreateDeploymentRequest, by string) (*vise.Deployment, error) {
	devices, err := f.TargetDevices(ctx, req.Target)
	if err != nil {
		return nil, err
	}
	if devices, err = subset(req.Target, devices, req.Devices); err != nil {
		return nil, err
	}
	if err := checkPolicy(&req); err != nil {
		return nil, err
	}
	if len(req.Components) == 0 {
		return nil, vise.Errorf(vise.CodeInvalid, "a deployment needs at least one component (--component NAME[@VERSION])")
	}
	recipes, err := vise.Resolve(req.Components, f.store.Recipes(ctx), false)
	if err != nil {
		return nil, err
	}
	d := vise.Deployment{Target: req.Target, Configuration: req.Configuration, Rollout: req.Rollout, FailurePolicy: req.FailurePolicy, CreatedBy: by}
	for _, rc := range recipes {
		d.Components = append(d.Components, vise.ComponentRef{Name: rc.Name, Version: rc.Version})
	}
	for name := range req.Configuration {
		if !slices.ContainsFunc(d.Components, func(c vise.ComponentRef) bool { return c.Name == name }) {
			return nil, vise.Errorf(vise.CodeInvalid, "configuration for %s, which is not part of this deployment (components: %s)", name, refs(d.Components))
		}
	}
	out, err := f.store.CreateDeployment(ctx, d, devices)
	if err != nil {
		return nil, err
	}
	if err := f.sign(ctx, out); err != nil {
		return nil, err
	}
	if f.announce != nil {
		f.announce(out)
	}
	f.log.Info("deployment created", "deployment", out.ID, "target", out.Target.Kind+"/"+out.Target.Name,
		"components", refs(out.Components), "devices", len(devices), "by", by)
	return out, nil
}

// TargetDevices lists the devices a target names, or not_found.
func (f *Fleet) TargetDevices(ctx context.Context, t vise.Target) ([]string, error) {
	switch t.Kind {
	case vise.TargetDevice:
		d, err := f.store.GetDevice(ctx, t.Name)
		if err != nil {
			return nil, err
		}
		return []string{d.Name}, nil
	case vise.TargetGroup:
		g, err := f.store.GetGroup(ctx, t.Name)
		if err != nil {
			return nil, err
		}
		return g.Devices, nil
	}
	return nil, vise.Errorf(vise.CodeInvalid, "deployment target kind %q: use device or group", t.Kind)
}

// subset narrows a target's devices to the requested ones, each of which
// must belong to it.
func subset(t vise.Target, all, want []string) ([]string, error) {
	if len(want) == 0 {
		return all, nil
	}
	for _, d := range want {
		if !slices.Contains(all, d) {
			return nil, vise.Errorf(vise.CodeInvalid, "device %s is not part of %s %s", d, t.Kind, t.Name)
		}
	}
	return want, nil
}

func checkPolicy(req *vise.CreateDeploymentRequest) error {
	r := req.Rollout
	if r.CanaryFraction < 0 || r.CanaryFraction > 1 || r.AbortThreshold < 0 || r.AbortThreshold > 1 {
		return vise.Errorf(vise.CodeInvalid, "canary fraction and abort threshold must be between 0 and 1")
	}
	if r.PerMinute < 0 || r.DeviceTimeout < 0 {
		return vise.Errorf(vise.CodeInvalid, "rollout rate and device timeout cannot be negative")
	}
	if req.Rollout.DeviceTimeout == 0 {
		req.Rollout.DeviceTimeout = vise.Duration(10 * time.Minute)
	}
	switch req.FailurePolicy {
	case "":
		req.FailurePolicy = vise.FailureRollback
	case vise.FailureRollback, vise.FailureNone:
	default:
		return vise.Errorf(vise.CodeInvalid, "failure policy %q: use rollback or none", req.FailurePolicy)
	}
	return nil
}

func refs(cs []vise.ComponentRef) string {
	out := ""
	for i, c := range cs {
		if i > 0 {
			out += ", "
		}
		out += c.String()
	}
	return out
}

// Document is what a device is told to run: the signed form of a
// deployment. Its one type is in deviceapi, the device contract.
type Document = deviceapi.Document

// DocumentComponent pins a component version to its recipe digest.
type DocumentComponent = deviceapi.DocumentComponent

// DocumentBytes is the deployment document exactly as signed and served.
//
// A document never changes once signed, and every device of a deployment
// asks for it within moments: it is made once (reading the deployment,
// with its device list, per request made a rollout quadratic in the fleet).
func (f *Fleet) DocumentBytes(ctx context.Context, id string) ([]byte, error) {
	if b, ok := f.docs.get(id); ok {
		return b, nil
	}
	d, err := f.store.GetDeployment(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := f.document(ctx, d)
	if err == nil {
		f.docs.put(id, b)
	}
	return b, err
}

// docCache holds the documents of the last deployments served.
type docCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

// maxCachedDocs bounds docCache: rollouts in flight at once, with room.
const maxCachedDocs = 64

func (c *docCache) get(id string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[id]
	return b, ok
}

func (c *docCache) put(id string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedDocs {
		c.m = map[string][]byte{} // simplest eviction: start over
	}
	c.m[id] = b
}

func (f *Fleet) document(ctx context.Context, d *vise.Deployment) ([]byte, error) {
	rollout, err := json.Marshal(d.Rollout)
	if err != nil {
		return nil, err
	}
	doc := Document{ID: d.ID, Target: d.Target, Configuration: d.Configuration, Rollout: rollout, FailurePolicy: d.FailurePolicy, CreatedAt: d.CreatedAt}
	for _, c := range d.Components {
		cv, err := f.store.GetComponentVersion(ctx, c.Name, c.Version)
		if err != nil {
			return nil, err
		}
		doc.Components = append(doc.Components, DocumentComponent{Name: c.Name, Version: c.Version, RecipeDigest: cv.Digest})
	}
	return json.Marshal(doc) // maps marshal sorted: the same deployment gives the same bytes
}

func (f *Fleet) sign(ctx context.Context, d *vise.Deployment) error {
	b, err := f.document(ctx, d)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	t := release.Target{Path: DeploymentTarget(d.ID), Length: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	if err := f.signer.AddTargets(t); err != nil {
		return fmt.Errorf("sign deployment %s: %w", d.ID, err)
	}
	return nil
}

// DeploymentTarget is a deployment document's path in the release metadata.
func DeploymentTarget(id string) string { return "deployments/" + id + ".json" }

// ReleaseTargets lists the deployment documents the release metadata holds.
func (f *Fleet) ReleaseTargets(ctx context.Context) ([]release.Target, error) {
	ds, err := f.store.ListDeployments(ctx, nil, 1000)
	if err != nil {
		return nil, err
	}
	var out []release.Target
	for _, d := range ds {
		b, err := f.document(ctx, d)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, release.Target{Path: DeploymentTarget(d.ID), Length: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

func (f *Fleet) Deployments(ctx context.Context, target *vise.Target, limit int) ([]*vise.Deployment, error) {
	return f.store.ListDeployments(ctx, target, limit)
}

func (f *Fleet) Deployment(ctx context.Context, id string) (*vise.Deployment, error) {
	return f.store.GetDeployment(ctx, id)
}
