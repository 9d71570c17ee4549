#!/usr/bin/env bash
# Installs what Vise needs on a fresh Debian/Ubuntu machine, idempotently:
#   scripts/setup.sh demo   what `make demo` needs
#   scripts/setup.sh test   what `make test` needs (adds PostgreSQL for the
#                           conformance suite, Chromium for the dashboard
#                           tests, Mosquitto for the external-broker tests,
#                           and the trainer's Python packages)
#   scripts/setup.sh train  what a server that trains needs (`vise train`,
#                           `vise server --trainer`): demo plus Debian's
#                           python3-torch and python3-onnx
# Debian packages come from apt, Go modules from the Go module proxy, and the
# ONNX Runtime shared library from the npm package onnxruntime-node (there is
# no Debian package of it for bookworm); see docs/decisions/0001-foundation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-demo}

ORT_VERSION=1.30.0
ORT_SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
ORT_SHA256_ARM64=1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76
ORT_DIR=.cache/onnxruntime/$ORT_VERSION

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		as_root apt-get update -qq
		apt_updated=1
	fi
	log "installing Debian packages: ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_go() {
	if ! command -v go >/dev/null 2>&1; then
		if [ -x /usr/local/go/bin/go ]; then export PATH=/usr/local/go/bin:$PATH; else
			log "Go is not installed: install Go 1.26 from the Go project (see the README) and run this again"
			exit 1
		fi
	fi
	log "downloading Go modules"
	GOTOOLCHAIN=local go mod download
}

# fetch_ort [arm64]: the x64 library into $ORT_DIR, and with arm64 also the
# arm64 one (for the cross-built vise-infer) into $ORT_DIR/linux-arm64. One
# npm package carries both; each is checked against its pinned checksum.
fetch_ort() {
	local want=("x64 $ORT_DIR/libonnxruntime.so.1 $ORT_SHA256")
	[ "${1:-}" = arm64 ] && want+=("arm64 $ORT_DIR/linux-arm64/libonnxruntime.so.1 $ORT_SHA256_ARM64")
	local missing=() arch lib sum
	for w in "${want[@]}"; do
		read -r arch lib sum <<<"$w"
		echo "$sum  $lib" | sha256sum -c --status - 2>/dev/null || missing+=("$w")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	command -v npm >/dev/null 2>&1 || apt_install npm
	log "fetching ONNX Runtime $ORT_VERSION (npm package onnxruntime-node, library only)"
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	# npm pack downloads the tarball without running its install script,
	# which would reach for hosts this machine cannot reach.
	(cd "$tmp" && npm pack "onnxruntime-node@$ORT_VERSION" --silent >/dev/null)
	for w in "${missing[@]}"; do
		read -r arch lib sum <<<"$w"
		local in=package/bin/napi-v6/linux/$arch/libonnxruntime.so.1
		tar -xzf "$tmp"/onnxruntime-node-"$ORT_VERSION".tgz -C "$tmp" "$in"
		echo "$sum  $tmp/$in" | sha256sum -c --quiet - || {
			log "ONNX Runtime library ($arch) checksum mismatch; refusing to use it"
			exit 1
		}
		mkdir -p "$(dirname "$lib")"
		mv "$tmp/$in" "$lib"
	done
}

# libturbojpeg0-dev: vise-infer (built by `make build` in both modes) decodes
# JPEG through libjpeg-turbo.
apt_install ca-certificates git make gcc locales libturbojpeg0-dev
if ! locale -a 2>/dev/null | grep -qi '^en_US.utf8$'; then
	# ONNX Runtime's string ops want en_US.UTF-8.
	if grep -q 'en_US.UTF-8 UTF-8' /etc/locale.gen 2>/dev/null; then
		as_root sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
	else
		echo 'en_US.UTF-8 UTF-8' | as_root tee -a /etc/locale.gen >/dev/null
	fi
	as_root locale-gen >/dev/null
fi
# ffmpeg reads rtsp:// and http:// MJPEG cameras for vise-infer, Aravis
# GigE Vision / USB3 Vision ones (vise-infer links it: its pkg-config wants
# libusb's headers too). The camera tests also serve RTSP through
# GStreamer's gst-rtsp-server (python3-gi, x264enc from -ugly) and simulate
# a GigE Vision camera (aravis-tools).
apt_install ffmpeg libaravis-dev libusb-1.0-0-dev
# The trainer (train/train.py) runs on Debian's Python, /usr/bin/python3,
# with these; `vise train` and `vise server --trainer` name any that is missing.
TRAINER_PACKAGES="python3-torch python3-onnx python3-numpy python3-pil"
# `make arm64` and `make packages` cross-build for arm64: vise-agent (pure
# Go) and vise-infer (cgo: Debian's cross compiler and the arm64 libraries
# through multiarch, which also let qemu-user run it). `make test` runs the
# arm64 builds under qemu, so the test mode includes this.
setup_cross() {
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		as_root dpkg --add-architecture arm64
		apt_updated=
	fi
	apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross libstdc++6:arm64 \
		libturbojpeg0-dev:arm64 libaravis-dev:arm64 libusb-1.0-0-dev:arm64
}
ort_arch=
case "$mode" in
demo) ;;
# protobuf-compiler: the test that onnx/onnxpb's generated code matches onnx.proto.
# qemu-user-static runs the arm64 tests; systemd-analyze (systemd) checks
# the package units.
test) apt_install postgresql chromium mosquitto mosquitto-clients protobuf-compiler qemu-user-static systemd python3-gi gir1.2-gst-rtsp-server-1.0 \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly aravis-tools $TRAINER_PACKAGES
	setup_cross
	ort_arch=arm64 ;;
train) apt_install $TRAINER_PACKAGES ;;
cross) setup_cross
	ort_arch=arm64 ;;
*) log "usage: $0 demo|test|train|cross"; exit 2 ;;
esac
need_go
fetch_ort $ort_arch
log "set-up done ($mode)"
