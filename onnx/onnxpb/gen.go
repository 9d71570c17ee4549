// Package onnxpb holds Go types generated from ONNX's own onnx.proto (the
// IR 8 schema of ONNX 1.12, as Debian bookworm's libonnx-dev ships it at
// /usr/include/onnx/onnx.proto; Apache-2.0, see LICENSE-onnx.proto.txt).
// They let Vise load, edit and write whole models (the INT8 quantizer);
// reading a model's contract and metadata stays with package onnx, which
// streams in constant memory.
//
// Regenerate with `go generate ./onnx/onnxpb` (Debian protobuf-compiler;
// protoc-gen-go is the go.mod tool of google.golang.org/protobuf, so its
// version is the one the module builds with).
package onnxpb

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) -I . --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/vise-edge/vise/onnx/onnxpb onnx.proto"
