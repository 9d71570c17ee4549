package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/tufclient"
)

// verifier fetches signed release metadata and checks targets against it.
type verifier struct {
	tuf *tufclient.Client
}

// newVerifier refreshes the release metadata from the server. The device's
// metadata cache persists, so a server that serves older versions than the
// device has seen is refused (rollback protection), as is expired metadata.
func (a *Agent) newVerifier(ctx context.Context) (*verifier, error) {
	c, err := tufclient.New(tufclient.Options{
		MetadataURL: a.cfg.Server + deviceapi.ReleasePath,
		TargetsURL:  a.cfg.Server + deviceapi.TargetsPath,
		Dir:         a.path("tuf"),
		Root:        a.id.root,
		HTTP:        a.http,
	})
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "release metadata: %w", err)
	}
	if err := c.Refresh(ctx); err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "release metadata did not verify: %w", err)
	}
	return &verifier{tuf: c}, nil
}

// small downloads a small target (a document or recipe) and verifies it.
func (v *verifier) small(ctx context.Context, path string) ([]byte, error) {
	t, err := v.tuf.Target(path)
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "%w", err)
	}
	if t.Length > 1<<20 {
		return nil, vise.Errorf(vise.CodeInvalid, "%s is %d bytes; documents are small", path, t.Length)
	}
	b, err := v.tuf.Fetch(ctx, t)
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "%s failed verification: %w", path, err)
	}
	return b, nil
}

// artifact returns the signed length and sha256 of an artifact.
func (v *verifier) artifact(sha string) (int64, string, error) {
	t, err := v.tuf.Target("artifacts/" + sha)
	if err != nil {
		return 0, "", vise.Errorf(vise.CodeInvalid, "artifact %s is not in the signed release metadata", sha)
	}
	return t.Length, t.SHA256, nil
}

// document fetches and verifies a deployment document and the recipes it
// pins.
func (v *verifier) document(ctx context.Context, id string) (*deviceapi.Document, map[string]*vise.Recipe, error) {
	b, err := v.small(ctx, "deployments/"+id+".json")
	if err != nil {
		return nil, nil, err
	}
	var doc deviceapi.Document
	if err := json.Unmarshal(b, &doc); err != nil || doc.ID != id {
		return nil, nil, vise.Errorf(vise.CodeInvalid, "deployment document %s is malformed", id)
	}
	recipes := map[string]*vise.Recipe{}
	for _, c := range doc.Components {
		b, err := v.small(ctx, fmt.Sprintf("components/%s/%s/recipe.json", c.Name, c.Version))
		if err != nil {
			return nil, nil, err
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != c.RecipeDigest {
			return nil, nil, vise.Errorf(vise.CodeInvalid, "recipe %s@%s does not match the digest the deployment pins", c.Name, c.Version)
		}
		var r vise.Recipe
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, nil, vise.Errorf(vise.CodeInvalid, "recipe %s@%s: %w", c.Name, c.Version, err)
		}
		recipes[c.Name] = &r
	}
	return &doc, recipes, nil
}
