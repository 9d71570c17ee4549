package vise_test

import (
	"strings"
	"testing"

	"github.com/vise-edge/vise"
)

type catalog map[string][]*vise.Recipe

func (c catalog) add(name, version string, deps ...string) catalog {
	r := &vise.Recipe{Name: name, Version: version, Dependencies: map[string]vise.Dependency{}}
	for _, d := range deps {
		n, rng, _ := strings.Cut(d, " ")
		typ := ""
		if strings.HasSuffix(rng, " soft") {
			rng, typ = strings.TrimSuffix(rng, " soft"), "soft"
		}
		r.Dependencies[n] = vise.Dependency{Version: rng, Type: typ}
	}
	c[name] = append(c[name], r)
	return c
}

func (c catalog) src(name string) ([]*vise.Recipe, error) { return c[name], nil }

func names(rs []*vise.Recipe) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name+"@"+r.Version)
	}
	return strings.Join(out, " ")
}

func TestResolve(t *testing.T) {
	c := catalog{}.
		add("model", "1.9.0").add("model", "1.10.0").add("model", "2.0.0").
		add("runtime", "1.30.0").
		add("infer", "1.0.0", "model ^1.0.0", "runtime ~1.30").
		add("infer", "1.1.0-rc.1", "model ^1.0.0").
		add("ui", "1.0.0", "infer >=1.0.0 soft")
	tests := []struct {
		name string
		req  []vise.ComponentRef
		want string
		code vise.Code
		msg  string
	}{
		{name: "newest by semver, deps first", req: []vise.ComponentRef{{Name: "infer"}},
			want: "model@1.10.0 runtime@1.30.0 infer@1.0.0"},
		{name: "latest keyword", req: []vise.ComponentRef{{Name: "model", Version: "latest"}}, want: "model@2.0.0"},
		{name: "exact pin", req: []vise.ComponentRef{{Name: "model", Version: "1.9.0"}}, want: "model@1.9.0"},
		{name: "range", req: []vise.ComponentRef{{Name: "model", Version: "<1.10"}}, want: "model@1.9.0"},
		{name: "pin respected by dependents", req: []vise.ComponentRef{{Name: "model", Version: "1.9.0"}, {Name: "infer"}},
			want: "model@1.9.0 runtime@1.30.0 infer@1.0.0"},
		{name: "soft dep not pulled in", req: []vise.ComponentRef{{Name: "ui"}}, want: "ui@1.0.0"},
		{name: "soft dep ordered first when present", req: []vise.ComponentRef{{Name: "ui"}, {Name: "infer"}},
			want: "model@1.10.0 runtime@1.30.0 infer@1.0.0 ui@1.0.0"},
		{name: "clash", req: []vise.ComponentRef{{Name: "model", Version: "2.0.0"}, {Name: "infer"}},
			code: vise.CodeConflict, msg: "infer@1.0.0 needs model ^1.0.0 but model@2.0.0 was chosen for requested"},
		{name: "unknown", req: []vise.ComponentRef{{Name: "nope"}}, code: vise.CodeNotFound, msg: "component nope not found"},
		{name: "unsatisfiable", req: []vise.ComponentRef{{Name: "model", Version: "^3"}}, code: vise.CodeNotFound,
			msg: "available: 1.10.0, 1.9.0, 2.0.0"},
		{name: "bad range", req: []vise.ComponentRef{{Name: "model", Version: "!!"}}, code: vise.CodeInvalid, msg: "invalid version or range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vise.Resolve(tt.req, c.src, false)
			if tt.code != "" {
				if vise.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v, want %s containing %q", err, tt.code, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tt.want {
				t.Errorf("got %s, want %s", names(got), tt.want)
			}
		})
	}
}

func TestResolveCycle(t *testing.T) {
	c := catalog{}.add("a", "1.0.0", "b ^1").add("b", "1.0.0", "c ^1").add("c", "1.0.0", "a ^1")
	_, err := vise.Resolve([]vise.ComponentRef{{Name: "a"}}, c.src, false)
	if vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), "dependency cycle: a -> b -> c -> a") {
		t.Errorf("cycle: %v", err)
	}
	// Missing dependencies may be allowed; cycles never are.
	c2 := catalog{}.add("a", "1.0.0", "b ^1", "missing ^1").add("b", "1.0.0", "a ^1")
	_, err = vise.Resolve([]vise.ComponentRef{{Name: "a"}}, c2.src, true)
	if vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), "dependency cycle") {
		t.Errorf("cycle with allowMissing: %v", err)
	}
	got, err := vise.Resolve([]vise.ComponentRef{{Name: "x"}}, catalog{}.add("x", "1.0.0", "missing ^1").src, true)
	if err != nil || names(got) != "x@1.0.0" {
		t.Errorf("allowMissing: %s, %v", names(got), err)
	}
}
