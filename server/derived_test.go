package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/onnx/onnxpb"
	"github.com/vise-edge/vise/server"
)

// markedInt8 is the sample model with the metadata vise-infer quantize
// writes: enough for the registry, which reads only the file's metadata.
func markedInt8(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(sampleModel)
	if err != nil {
		t.Fatal(err)
	}
	pb := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, pb); err != nil {
		t.Fatal(err)
	}
	pb.MetadataProps = append(pb.MetadataProps, &onnxpb.StringStringEntryProto{
		Key: proto.String(vise.QuantizationMetadataKey), Value: proto.String(`{"method":"percentile"}`)})
	if b, err = proto.Marshal(pb); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "int8.onnx")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// An INT8 version registers with lineage to its float parent, marked as the
// INT8 variant by its file; one that loses more than 0.01 mAP50 against the
// parent is Rejected with both numbers; a derived version without a real
// float parent or the metrics to judge it is refused.
func TestDerivedVersions(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		float := register(t, c, "metal-tags", sampleModel, true) // version 1
		art, err := c.UploadFile(ctx, markedInt8(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		lineage := vise.Lineage{ParentVersion: 1, CalibrationDigest: strings.Repeat("c", 64), QuantizationMethod: "percentile"}
		req := func(map50, parent float64) vise.RegisterModelRequest {
			return vise.RegisterModelRequest{SHA256: art.SHA256, Lineage: lineage,
				Metrics: map[string]float64{"map50": map50, "parent_map50": parent}}
		}
		mv, err := c.RegisterModel(ctx, "metal-tags", req(0.855, 0.863))
		if err != nil {
			t.Fatal(err)
		}
		if mv.Version != 2 || mv.Approval.Status != vise.PendingManualApproval || mv.Lineage.Variant != vise.VariantInt8 ||
			mv.Lineage.ParentVersion != 1 || mv.Lineage.CalibrationDigest != lineage.CalibrationDigest || mv.Lineage.QuantizationMethod != "percentile" {
			t.Errorf("within the limit: %+v %+v", mv.Approval, mv.Lineage)
		}
		mv, err = c.RegisterModel(ctx, "metal-tags", req(0.84, 0.863))
		if err != nil {
			t.Fatal(err)
		}
		if mv.Approval.Status != vise.Rejected || !strings.Contains(mv.Approval.Reason, "mAP50 0.8400 is 0.0230 below its parent version 1's 0.8630") {
			t.Errorf("0.023 lost: %+v", mv.Approval)
		}

		bad := []struct {
			name string
			req  vise.RegisterModelRequest
			want string
		}{
			{"no such parent", func() vise.RegisterModelRequest { r := req(0.86, 0.86); r.Lineage.ParentVersion = 9; return r }(), "parent version 9 of model metal-tags does not exist"},
			{"INT8 parent", func() vise.RegisterModelRequest { r := req(0.86, 0.86); r.Lineage.ParentVersion = 2; return r }(), "is itself INT8: derive from its float parent, version 1"},
			{"no parent metric", vise.RegisterModelRequest{SHA256: art.SHA256, Lineage: lineage, Metrics: map[string]float64{"map50": 0.86}}, "needs the metrics map50 and parent_map50"},
			{"unknown variant", vise.RegisterModelRequest{SHA256: float.Artifact.SHA256, Lineage: vise.Lineage{Variant: "fp16"}}, `lineage variant "fp16"`},
		}
		for _, tt := range bad {
			_, err := c.RegisterModel(ctx, "metal-tags", tt.req)
			wantCode(t, err, vise.CodeInvalid, tt.want)
		}
	})
}
