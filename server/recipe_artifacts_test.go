package server_test

import (
	"strings"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
)

// A recipe's artifact must be an uploaded blob of the size the recipe
// says, checked when the component is created rather than on the device.
func TestRecipeArtifactMustMatchBlob(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		a := uploadBytes(t, c, "hello")
		for size, want := range map[int64]string{
			6: "artifact bin/run (sha256 " + a.SHA256 + ") has size 6 in the recipe, but the uploaded blob is 5 bytes",
			0: "artifact bin/run (sha256 " + a.SHA256 + ") has size 0 in the recipe, but the uploaded blob is 5 bytes",
		} {
			_, _, err := c.CreateComponent(ctx, recipe("a", "1.0.0", vise.Artifact{SHA256: a.SHA256, Size: size}, nil))
			wantCode(t, err, vise.CodeInvalid, want)
		}
		missing := strings.Repeat("2", 64)
		_, _, err := c.CreateComponent(ctx, recipe("a", "1.0.0", vise.Artifact{SHA256: missing, Size: 5}, nil))
		wantCode(t, err, vise.CodeInvalid, "artifact bin/run (sha256 "+missing+") is not uploaded")
		if _, err := c.ComponentVersions(ctx, "a"); vise.ErrorCode(err) != vise.CodeNotFound {
			t.Errorf("a refused recipe was stored: %v", err)
		}
		if _, _, err := c.CreateComponent(ctx, recipe("a", "1.0.0", a, nil)); err != nil {
			t.Errorf("the recipe with the blob's size: %v", err)
		}
	})
}
