# The README's two commands: `make demo` runs Vise on this machine, `make test`
# runs every test. Both install what they need first (scripts/setup.sh).
export GOTOOLCHAIN := local
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build demo test test-short setup-demo setup-test setup-train fuzz clean

all: build

# vise is pure Go; vise-infer, the inference runner, is the only cgo binary.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.Version=$(VERSION)" -o bin/vise ./cmd/vise
	CGO_ENABLED=1 $(GO) build -o bin/vise-infer ./cmd/vise-infer

setup-demo:
	scripts/setup.sh demo

setup-test:
	scripts/setup.sh test

# What a server that trains needs on top of the demo's: Debian's python3-torch and python3-onnx.
setup-train:
	scripts/setup.sh train

demo: setup-demo build
	LC_ALL=en_US.UTF-8 bin/vise demo --data demo-data

# VISE_REQUIRE_POSTGRES turns "PostgreSQL is not installed" from a skip into a
# failure, so the conformance suite cannot silently drop an engine.
# VISE_REQUIRE_MOSQUITTO does the same for the external-broker tests,
# VISE_REQUIRE_CAMERA for the camera tests (ffmpeg, gst-rtsp-server) and
# VISE_REQUIRE_TRAINER for the trainer's (python3-torch, python3-onnx).
test: setup-test
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	VISE_REQUIRE_POSTGRES=1 VISE_REQUIRE_MOSQUITTO=1 VISE_REQUIRE_ORT=1 VISE_REQUIRE_BROWSER=1 VISE_REQUIRE_CAMERA=1 VISE_REQUIRE_TRAINER=1 VISE_ARTIFACTS=$(CURDIR)/.artifacts LC_ALL=en_US.UTF-8 VISE_ORT_LIB=$(CURDIR)/.cache/onnxruntime/1.30.0/libonnxruntime.so.1 \
		$(GO) test -p 2 -timeout 20m ./...

test-short:
	$(GO) test -short ./...

# Runs every fuzz target for a while (FUZZTIME=5m for longer).
FUZZTIME ?= 30s
fuzz:
	$(GO) test . -run '^$$' -fuzz FuzzParseRecipe -fuzztime $(FUZZTIME)
	$(GO) test ./onnx -run '^$$' -fuzz FuzzRead -fuzztime $(FUZZTIME)
	$(GO) test ./quantize -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME)
	$(GO) test ./infer -run '^$$' -fuzz FuzzDecodeFill -fuzztime $(FUZZTIME)
	CGO_ENABLED=1 $(GO) test ./infer/turbo -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./users -run '^$$' -fuzz FuzzParseHash -fuzztime $(FUZZTIME)
	$(GO) test ./ingest -run '^$$' -fuzz FuzzParseResult -fuzztime $(FUZZTIME)
	$(GO) test ./ingest -run '^$$' -fuzz FuzzParseStatus -fuzztime $(FUZZTIME)
	$(GO) test ./sendback -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)

clean:
	rm -rf bin demo-data

# The improvement loop end to end, with a real training budget (README:
# "The improvement loop"): trains on half the camera shots of the shared
# dataset, devices replay the other half, their images are labelled through
# the API, retrain, deploy; fails unless the retrained model scores higher on
# the benchmark split. LOOP_FLAGS adds flags, e.g. LOOP_FLAGS="--epochs 40 -o json".
.PHONY: loop-proof
loop-proof: setup-train build
	LC_ALL=en_US.UTF-8 bin/vise loop-proof --dataset ../shared/datasets/metal-tags \
		--ort-lib $(CURDIR)/.cache/onnxruntime/1.30.0/libonnxruntime.so.1 $(LOOP_FLAGS)
