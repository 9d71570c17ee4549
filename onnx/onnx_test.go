package onnx

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
)

// Builders of ONNX protobuf bytes for table cases.

func msg(fields ...[]byte) []byte { return bytes.Join(fields, nil) }

func bytesField(num int, b []byte) []byte {
	out := protowire.AppendTag(nil, protowire.Number(num), protowire.BytesType)
	return protowire.AppendBytes(out, b)
}

func varintField(num int, v uint64) []byte {
	out := protowire.AppendTag(nil, protowire.Number(num), protowire.VarintType)
	return protowire.AppendVarint(out, v)
}

func dimValue(v uint64) []byte { return bytesField(1, varintField(1, v)) }
func dimParam(s string) []byte { return bytesField(1, bytesField(2, []byte(s))) }
func valueInfo(name string, elem uint64, dims ...[]byte) []byte {
	tensor := msg(varintField(1, elem), bytesField(2, msg(dims...)))
	return msg(bytesField(1, []byte(name)), bytesField(2, bytesField(1, tensor)))
}

func initializer(name string, raw int) []byte {
	return msg(bytesField(8, []byte(name)), bytesField(9, make([]byte, raw)))
}

func model(graph []byte, meta map[string]string) []byte {
	out := msg(varintField(1, 8), bytesField(2, []byte("pytorch")), bytesField(3, []byte("2.1")),
		bytesField(8, msg(bytesField(1, nil), varintField(2, 17))), bytesField(7, graph))
	for k, v := range meta {
		out = append(out, bytesField(14, msg(bytesField(1, []byte(k)), bytesField(2, []byte(v))))...)
	}
	return out
}

func yoloGraph(weights int) []byte {
	return msg(
		bytesField(5, initializer("w0", weights)),
		bytesField(11, valueInfo("images", 1, dimValue(1), dimValue(3), dimValue(640), dimValue(640))),
		bytesField(12, valueInfo("output0", 1, dimValue(1), dimValue(5), dimValue(8400))),
	)
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		want    *Info
		wantErr string
	}{
		{
			name: "yolo contract",
			data: model(yoloGraph(1000), map[string]string{"names": "{0: 'scratch'}"}),
			want: &Info{IRVersion: 8, ProducerName: "pytorch", ProducerVersion: "2.1", Opsets: map[string]int64{"": 17},
				Inputs:   []Tensor{{Name: "images", ElemType: "float32", Shape: []Dim{{Value: 1}, {Value: 3}, {Value: 640}, {Value: 640}}}},
				Outputs:  []Tensor{{Name: "output0", ElemType: "float32", Shape: []Dim{{Value: 1}, {Value: 5}, {Value: 8400}}}},
				Metadata: map[string]string{"names": "{0: 'scratch'}"}, ClassNames: []string{"scratch"}},
		},
		{
			name: "symbolic dims, initializers listed as inputs (IR < 4)",
			data: model(msg(
				bytesField(5, initializer("conv.weight", 64)),
				bytesField(11, valueInfo("images", 1, dimParam("batch"), dimValue(3), dimParam("h"), dimParam("w"))),
				bytesField(11, valueInfo("conv.weight", 1, dimValue(8))),
				bytesField(12, valueInfo("output0", 1, dimParam("batch"), dimValue(84), dimParam("anchors"))),
			), nil),
			want: &Info{IRVersion: 8, ProducerName: "pytorch", ProducerVersion: "2.1", Opsets: map[string]int64{"": 17},
				Inputs:   []Tensor{{Name: "images", ElemType: "float32", Shape: []Dim{{Value: -1, Param: "batch"}, {Value: 3}, {Value: -1, Param: "h"}, {Value: -1, Param: "w"}}}},
				Outputs:  []Tensor{{Name: "output0", ElemType: "float32", Shape: []Dim{{Value: -1, Param: "batch"}, {Value: 84}, {Value: -1, Param: "anchors"}}}},
				Metadata: map[string]string{}},
		},
		{name: "empty", data: nil, wantErr: "empty file"},
		{name: "jpeg", data: []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F'}, wantErr: "not an ONNX model"},
		{name: "text", data: []byte("hello, this is not a model\n"), wantErr: "not an ONNX model"},
		{name: "zip (a .pt file)", data: []byte("PK\x03\x04\x14\x00\x00\x00"), wantErr: "not an ONNX model"},
		{name: "no graph", data: msg(varintField(1, 8), bytesField(2, []byte("x"))), wantErr: "no graph found"},
		{name: "huge declared length", data: msg(varintField(1, 8), protowire.AppendVarint(protowire.AppendTag(nil, 7, protowire.BytesType), 1<<40)), wantErr: "truncated ONNX file"},
		{name: "bad names", data: model(yoloGraph(10), map[string]string{"names": "{0: 'a', 2: 'b'}"}), wantErr: "index 1 is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A truncated file is an error, never a panic or a silently partial graph.
// (A prefix that ends exactly between top-level fields is a valid, smaller
// protobuf; it must then describe the same inputs and outputs.)
func TestTruncations(t *testing.T) {
	for _, data := range [][]byte{model(yoloGraph(300), map[string]string{"names": "{0: 'scratch'}"}), sample(t)} {
		full, err := Read(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		step := max(1, len(data)/3000)
		for n := 0; n < len(data); n += step {
			got, err := Read(bytes.NewReader(data[:n]))
			if err != nil {
				continue
			}
			if !cmp.Equal(got.Inputs, full.Inputs) || !cmp.Equal(got.Outputs, full.Outputs) {
				t.Fatalf("prefix of %d/%d bytes parsed into a different graph: %+v", n, len(data), got)
			}
		}
	}
}

func sample(t testing.TB) []byte {
	b, err := os.ReadFile("../samples/models/sample-tiny.onnx")
	if err != nil {
		t.Fatalf("sample model (regenerate with /usr/bin/python3 samples/models/gen_sample.py): %v", err)
	}
	return b
}

func TestSampleModel(t *testing.T) {
	info, err := Read(bytes.NewReader(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Inputs) != 1 || info.Inputs[0].Name != "images" || info.Inputs[0].ShapeString() != "[1,3,320,320]" || info.Inputs[0].ElemType != "float32" {
		t.Errorf("inputs = %+v", info.Inputs)
	}
	if len(info.Outputs) != 1 || info.Outputs[0].ShapeString() != "[1,5,2100]" {
		t.Errorf("outputs = %+v", info.Outputs)
	}
	if diff := cmp.Diff([]string{"scratch"}, info.ClassNames); diff != "" {
		t.Errorf("class names (-want +got):\n%s", diff)
	}
	if info.ProducerName != "pytorch" || info.Opsets[""] != 17 {
		t.Errorf("producer %q opset %d", info.ProducerName, info.Opsets[""])
	}
}

func TestParseClassNames(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "{0: 'scratch'}", want: []string{"scratch"}},
		{in: `{1: "dent", 0: 'scratch, deep'}`, want: []string{"scratch, deep", "dent"}},
		{in: `{0: 'it\'s', 1: 'ümlaut'}`, want: []string{"it's", "ümlaut"}},
		{in: `["a","b"]`, want: []string{"a", "b"}},
		{in: `{}`, want: []string{}},
		{in: `{0: 'a', 0: 'b'}`, wantErr: "appears twice"},
		{in: `{0: 'a', 2: 'b'}`, wantErr: "index 1 is missing"},
		{in: `{x: 'a'}`, wantErr: "not a class index"},
		{in: `{0: 'a}`, wantErr: "unterminated"},
		{in: `scratch`, wantErr: "want a dict"},
		{in: `[1, 2]`, wantErr: "not a JSON list of strings"},
	}
	for _, tt := range tests {
		got, err := ParseClassNames(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseClassNames(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseClassNames(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseClassNames(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// Reading streams: a 50 MB model costs a small, fixed amount of memory.
func TestReadMemoryDoesNotScale(t *testing.T) {
	data := model(yoloGraph(50<<20), nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := Read(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("reading a 50 MB model allocated %d bytes, want < 2 MiB", alloc)
	}
}

func BenchmarkRead(b *testing.B) {
	data := model(yoloGraph(50<<20), nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(model(yoloGraph(16), map[string]string{"names": "{0: 'scratch'}"}))
	f.Add(sample(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Read(bytes.NewReader(data))
		if err == nil && info == nil {
			t.Fatal("nil info without error")
		}
		if err != nil && errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("bare EOF leaked: %v", err)
		}
	})
}

func FuzzParseClassNames(f *testing.F) {
	for _, s := range []string{"{0: 'scratch'}", `{1: "b", 0: 'a'}`, `["a"]`, `{0: 'a\'b'}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := ParseClassNames(s)
		if err == nil && names == nil && strings.HasPrefix(strings.TrimSpace(s), "{") {
			t.Fatalf("nil names without error for %q", s)
		}
	})
}
