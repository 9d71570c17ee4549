package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
)

// verifier fetches signed release metadata and checks targets against it.
type verifier struct {
	up *updater.Updater
}

// newVerifier refreshes the release metadata from the server. The device's
// metadata cache persists, so a server that serves older versions than the
// device has seen is refused (rollback protection), as is expired metadata.
func (a *Agent) newVerifier() (*verifier, error) {
	dir := a.path("tuf")
	root := a.id.root
	if b, err := os.ReadFile(filepath.Join(dir, "root.json")); err == nil {
		root = b // the newest root this device has verified
	}
	cfg, err := config.New(a.cfg.Server+deviceapi.ReleasePath, root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = dir
	cfg.RemoteTargetsURL = a.cfg.Server + deviceapi.TargetsPath
	cfg.DisableLocalCache = false
	cfg.LocalTargetsDir = a.path("tuf", "targets")
	if err := cfg.EnsurePathsExist(); err != nil {
		return nil, err
	}
	if err := cfg.SetDefaultFetcherHTTPClient(a.http); err != nil {
		return nil, err
	}
	up, err := updater.New(cfg)
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "release metadata: %v", err)
	}
	if err := up.Refresh(); err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "release metadata did not verify: %w", err)
	}
	return &verifier{up: up}, nil
}

// errUnlisted: a target is not (yet) in the signed release metadata.
var errUnlisted = errors.New("not in the signed release metadata")

// small downloads a small target (a document or recipe) and verifies it.
func (v *verifier) small(path string) ([]byte, error) {
	ti, err := v.up.GetTargetInfo(path)
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "%s is %w: %v", path, errUnlisted, err)
	}
	if ti.Length > 1<<20 {
		return nil, vise.Errorf(vise.CodeInvalid, "%s is %d bytes; documents are small", path, ti.Length)
	}
	_, b, err := v.up.DownloadTarget(ti, "", "")
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "%s failed verification: %w", path, err)
	}
	return b, nil
}

// artifact returns the signed length and sha256 of an artifact.
func (v *verifier) artifact(sha string) (int64, string, error) {
	ti, err := v.up.GetTargetInfo("artifacts/" + sha)
	if err != nil {
		return 0, "", vise.Errorf(vise.CodeInvalid, "artifact %s is not in the signed release metadata", sha)
	}
	return ti.Length, hex.EncodeToString(ti.Hashes["sha256"]), nil
}

// document fetches and verifies a deployment document and the recipes it
// pins.
func (v *verifier) document(id string) (*deviceapi.Document, map[string]*vise.Recipe, error) {
	b, err := v.small("deployments/" + id + ".json")
	if err != nil {
		return nil, nil, err
	}
	var doc deviceapi.Document
	if err := json.Unmarshal(b, &doc); err != nil || doc.ID != id {
		return nil, nil, vise.Errorf(vise.CodeInvalid, "deployment document %s is malformed", id)
	}
	recipes := map[string]*vise.Recipe{}
	for _, c := range doc.Components {
		b, err := v.small(fmt.Sprintf("components/%s/%s/recipe.json", c.Name, c.Version))
		if err != nil {
			return nil, nil, err
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != c.RecipeDigest {
			return nil, nil, vise.Errorf(vise.CodeInvalid, "recipe %s@%s does not match the digest the deployment pins", c.Name, c.Version)
		}
		var r vise.Recipe
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, nil, vise.Errorf(vise.CodeInvalid, "recipe %s@%s: %v", c.Name, c.Version, err)
		}
		recipes[c.Name] = &r
	}
	return &doc, recipes, nil
}
