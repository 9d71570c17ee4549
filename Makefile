# The README's two commands: `make demo` runs Vise on this machine, `make test`
# runs every test. Both install what they need first (scripts/setup.sh).
export GOTOOLCHAIN := local
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build build-native build-arm64 arm64 setup-cross packages test-arm64 test-go demo test test-short setup-demo setup-test setup-train fuzz clean

all: build

# vise is pure Go; vise-infer, the inference runner, is the only cgo binary.
# vise-agent is the device side alone, stripped (docs/decisions/0018). The
# arm64 builds of both land in bin/linux-arm64 (the cross toolchain and the
# arm64 libraries come from scripts/setup.sh cross).
build: build-native build-arm64

build-native:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.Version=$(VERSION)" -o bin/vise ./cmd/vise
	CGO_ENABLED=1 $(GO) build -o bin/vise-infer ./cmd/vise-infer
	CGO_ENABLED=0 $(GO) build $(AGENT_FLAGS) -o bin/vise-agent ./cmd/vise-agent

AGENT_FLAGS = -trimpath -ldflags "-s -w -X main.Version=$(VERSION)"
# Cross-building cgo for arm64: Debian's gcc-aarch64-linux-gnu, and the arm64
# libraries (libturbojpeg, Aravis) from Debian multiarch (scripts/setup.sh).
ARM64_CGO = CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc PKG_CONFIG=aarch64-linux-gnu-pkg-config
ORT_LIB_ARM64 = $(CURDIR)/.cache/onnxruntime/1.30.0/linux-arm64/libonnxruntime.so.1
TEST_ENV = LC_ALL=en_US.UTF-8 VISE_ORT_LIB=$(CURDIR)/.cache/onnxruntime/1.30.0/libonnxruntime.so.1
# Runs arm64 programs here without binfmt: qemu's user mode, with the
# cross toolchain's loader and libc.
QEMU_ARM64 = QEMU_LD_PREFIX=/usr/aarch64-linux-gnu qemu-aarch64-static

build-arm64 arm64: setup-cross
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(AGENT_FLAGS) -o bin/linux-arm64/vise-agent ./cmd/vise-agent
	$(ARM64_CGO) $(GO) build -o bin/linux-arm64/vise-infer ./cmd/vise-infer

# Debian packages of the server (vise) and the device side (vise-agent),
# for amd64 and arm64, in dist/ (see packaging/).
packages: setup-cross
	for arch in amd64 arm64; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -ldflags "-X main.Version=$(VERSION)" -o bin/linux-$$arch/vise ./cmd/vise && \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build $(AGENT_FLAGS) -o bin/linux-$$arch/vise-agent ./cmd/vise-agent && \
		$(GO) -C packaging run . -arch $$arch -version $(VERSION) -bin ../bin/linux-$$arch -out ../dist || exit 1; \
	done

setup-demo:
	scripts/setup.sh demo

setup-test:
	scripts/setup.sh test

# What a server that trains needs on top of the demo's: Debian's python3-torch and python3-onnx.
setup-train:
	scripts/setup.sh train

setup-cross:
	scripts/setup.sh cross

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
	$(MAKE) -j2 test-go test-arm64
	$(GO) -C packaging vet ./...
	$(GO) -C packaging test ./...

test-go:
	VISE_REQUIRE_POSTGRES=1 VISE_REQUIRE_MOSQUITTO=1 VISE_REQUIRE_ORT=1 VISE_REQUIRE_BROWSER=1 VISE_REQUIRE_CAMERA=1 VISE_REQUIRE_TRAINER=1 VISE_ARTIFACTS=$(CURDIR)/.artifacts $(TEST_ENV) \
		$(GO) test -p 2 -timeout 20m ./...

# On arm64, under qemu, beside test-go (whose tests spend much of their time
# waiting on servers and processes):
# the agent's package tests, and the cgo vise-infer's detections on the
# shared photos against this machine's (cmd/vise-infer TestArm64MatchesAmd64).
test-arm64:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) test -c -o bin/linux-arm64/agent.test ./agent
	cd agent && $(QEMU_ARM64) ../bin/linux-arm64/agent.test -test.timeout 10m
	$(ARM64_CGO) $(GO) build -o bin/linux-arm64/vise-infer ./cmd/vise-infer
	VISE_REQUIRE_ARM64=1 VISE_REQUIRE_ORT=1 VISE_ARM64_INFER=$(CURDIR)/bin/linux-arm64/vise-infer VISE_ARM64_ORT_LIB=$(ORT_LIB_ARM64) $(TEST_ENV) \
		$(GO) test -count=1 -timeout 20m -run '^TestArm64' -v ./cmd/vise-infer

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
	$(GO) test ./faults -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./tufclient -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./tufclient -run '^$$' -fuzz FuzzCanonicalJSON -fuzztime $(FUZZTIME)
	$(GO) test ./localipc -run '^$$' -fuzz FuzzConn -fuzztime $(FUZZTIME)

clean:
	rm -rf bin demo-data dist

# The improvement loop end to end, with a real training budget (README:
# "The improvement loop"): trains on half the camera shots of the shared
# dataset, devices replay the other half, their images are labelled through
# the API, retrain, deploy; fails unless the retrained model scores higher on
# the benchmark split. LOOP_FLAGS adds flags, e.g. LOOP_FLAGS="--epochs 40 -o json".
.PHONY: loop-proof
loop-proof: setup-train build
	LC_ALL=en_US.UTF-8 bin/vise loop-proof --dataset ../shared/datasets/metal-tags \
		--ort-lib $(CURDIR)/.cache/onnxruntime/1.30.0/libonnxruntime.so.1 $(LOOP_FLAGS)
