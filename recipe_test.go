package vise_test

import (
	"strings"
	"testing"

	"github.com/vise-edge/vise"
)

const fullRecipe = `name: vise.inspect
version: 1.2.0
description: inference
artifacts:
  - name: bin/vise-infer
    sha256: 1111111111111111111111111111111111111111111111111111111111111111
    size: 1024
    executable: true
dependencies:
  vise.model.metal-tags: {version: "^1.0.0"}
  vise.runtime.onnxruntime: {version: "~1.30", type: soft}
lifecycle:
  install: {script: "true", timeout: 1m}
  run: {script: "exec bin/vise-infer", timeout: 30s}
  health: {script: "test -e ready", timeout: 1m, interval: 5s}
  shutdown: {script: "kill $PID"}
configuration:
  confidence: 0.25
  source: {dir: /var/lib/camera}
`

func TestParseRecipe(t *testing.T) {
	r, err := vise.ParseRecipe([]byte(fullRecipe))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "vise.inspect" || len(r.Artifacts) != 1 || r.Dependencies["vise.runtime.onnxruntime"].Hard() || !r.Dependencies["vise.model.metal-tags"].Hard() {
		t.Errorf("parsed %+v", r)
	}
	// The JSON form of the same recipe has the same canonical bytes.
	canon, _ := r.Canonical()
	fromJSON, err := vise.ParseRecipe(canon)
	if err != nil {
		t.Fatalf("canonical JSON does not parse back: %v", err)
	}
	d1, _ := r.Digest()
	d2, _ := fromJSON.Digest()
	if d1 != d2 {
		t.Error("YAML and JSON forms of one recipe have different digests")
	}
	// Local file paths are not part of the identity.
	withFile := *r
	withFile.Artifacts = []vise.RecipeArtifact{r.Artifacts[0]}
	withFile.Artifacts[0].File = "../bin/vise-infer"
	if d3, _ := withFile.Digest(); d3 != d1 {
		t.Error("a local file path changed the digest")
	}
}

func TestParseRecipeErrors(t *testing.T) {
	base := "name: a\nversion: 1.0.0\n"
	agent, agentBin := "name: vise.agent\nversion: 1.0.0\n", "artifacts: [{name: bin/vise-agent, file: a, executable: true}]\n"
	tests := []struct {
		name, in string
		code     vise.Code
		contains string
	}{
		{"empty", "  \n", vise.CodeInvalid, "recipe is empty"},
		{"unknown field", base + "lifecyle: {}\n", vise.CodeInvalid, "field lifecyle not found"},
		{"unknown nested field", base + "lifecycle: {run: {script: x, timout: 1s}}\n", vise.CodeInvalid, "timout"},
		{"bad version", "name: a\nversion: one\n", vise.CodeInvalid, `version "one" is not a semantic version`},
		{"bad name", "name: Has Space\nversion: 1.0.0\n", vise.CodeInvalid, "invalid component name"},
		{"bad range", base + "dependencies: {b: {version: '>>1'}}\n", vise.CodeInvalid, `invalid semver range ">>1"`},
		{"bad dep type", base + "dependencies: {b: {version: '^1', type: weak}}\n", vise.CodeInvalid, `type "weak" must be hard or soft`},
		{"self dependency", base + "dependencies: {a: {version: '^1'}}\n", vise.CodeInvalid, "depends on itself"},
		{"dotdot artifact", base + "artifacts: [{name: ../etc/passwd, sha256: " + strings.Repeat("a", 64) + "}]\n", vise.CodeInvalid, "without '..'"},
		{"absolute artifact", base + "artifacts: [{name: /etc/passwd, sha256: " + strings.Repeat("a", 64) + "}]\n", vise.CodeInvalid, "without '..'"},
		{"duplicate artifact", base + "artifacts: [{name: x, file: a}, {name: x, file: b}]\n", vise.CodeInvalid, `"x" appears twice`},
		{"bad sha", base + "artifacts: [{name: x, sha256: abc}]\n", vise.CodeInvalid, `invalid sha256 "abc"`},
		{"negative size", base + "artifacts: [{name: x, size: -1, sha256: " + strings.Repeat("a", 64) + "}]\n", vise.CodeInvalid, "negative size"},
		{"empty script", base + "lifecycle: {run: {script: ' '}}\n", vise.CodeInvalid, "script is empty"},
		{"long timeout", base + "lifecycle: {run: {script: x, timeout: 48h}}\n", vise.CodeInvalid, "between 0 and 24h"},
		{"bad duration", base + "lifecycle: {run: {script: x, timeout: soon}}\n", vise.CodeInvalid, `invalid duration "soon"`},
		{"two documents", base + "---\n" + base, vise.CodeInvalid, "more than one YAML document"},
		{"not yaml", "{{{", vise.CodeInvalid, "invalid recipe"},
		{"agent: two artifacts", agent + "artifacts: [{name: bin/vise-agent, file: a, executable: true}, {name: x, file: b}]\n", vise.CodeInvalid, "exactly one artifact, bin/vise-agent"},
		{"agent: not executable", agent + "artifacts: [{name: bin/vise-agent, file: a}]\n", vise.CodeInvalid, "executable: true"},
		{"agent: run step", agent + agentBin + "lifecycle: {run: {script: x}}\n", vise.CodeInvalid, "takes no lifecycle steps"},
		{"agent: dependency", agent + agentBin + "dependencies: {b: {version: '^1'}}\n", vise.CodeInvalid, "no dependencies"},
		{"agent: unknown setting", agent + agentBin + "configuration: {confidence: 0.4}\n", vise.CodeInvalid, `unknown configuration key "confidence"`},
		{"agent: bad timeout", agent + agentBin + "configuration: {candidate_timeout: soon}\n", vise.CodeInvalid, "between 1s and 1h"},
		{"too large", base + "description: " + strings.Repeat("x", 300<<10) + "\n", vise.CodeTooLarge, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vise.ParseRecipe([]byte(tt.in))
			if vise.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err = %v (code %q), want %s containing %q", err, vise.ErrorCode(err), tt.code, tt.contains)
			}
		})
	}
}

func FuzzParseRecipe(f *testing.F) {
	f.Add(fullRecipe)
	f.Add("name: a\nversion: 1.0.0\n")
	f.Add(`{"name":"a","version":"1.0.0","dependencies":{"b":{"version":"^1"}}}`)
	f.Add("name: a\nversion: 1.0.0\nlifecyle: {}\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := vise.ParseRecipe([]byte(in))
		if err != nil {
			if vise.ErrorCode(err) == vise.CodeInternal {
				t.Fatalf("parse error without a code: %v", err)
			}
			return
		}
		// Whatever parses must survive its own canonical form unchanged.
		canon, err := r.Canonical()
		if err != nil {
			t.Fatalf("canonical: %v", err)
		}
		again, err := vise.ParseRecipe(canon)
		if err != nil {
			t.Fatalf("canonical form %s does not parse: %v", canon, err)
		}
		d1, _ := r.Digest()
		d2, _ := again.Digest()
		if d1 != d2 {
			t.Fatalf("digest changed through the canonical form: %s", canon)
		}
	})
}

func TestParseAgentRecipe(t *testing.T) {
	in := "name: vise.agent\nversion: 2.0.0\nartifacts: [{name: bin/vise-agent, file: vise-agent, executable: true}]\nconfiguration: {candidate_timeout: 30s}\n"
	if _, err := vise.ParseRecipe([]byte(in)); err != nil {
		t.Errorf("a vise.agent recipe: %v", err)
	}
}
