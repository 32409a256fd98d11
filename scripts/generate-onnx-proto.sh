#!/usr/bin/env bash
# Regenerates Sources/FoveaONNX/Generated/onnx.pb.swift from the ONNX schema.
#
# The generated file is committed: building Fovea needs neither protoc nor this script.
# Inputs: onnx.proto from Debian's libonnx-dev (/usr/include/onnx/onnx.proto, ONNX 1.12, IR 8),
# protoc from Debian's protobuf-compiler, and protoc-gen-swift built from the swift-protobuf
# version Package.resolved pins (the runtime and the generator must agree).
set -euo pipefail
cd "$(dirname "$0")/.."
PROTO_DIR=${ONNX_PROTO_DIR:-/usr/include/onnx}
[ -f "$PROTO_DIR/onnx.proto" ] || { echo "generate-onnx-proto.sh: $PROTO_DIR/onnx.proto not found (apt-get install libonnx-dev)" >&2; exit 1; }
command -v protoc >/dev/null || { echo "generate-onnx-proto.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
swift build -c release --product protoc-gen-swift >/dev/null
protoc --plugin=protoc-gen-swift=.build/release/protoc-gen-swift \
       --swift_out=Sources/FoveaONNX/Generated --swift_opt=Visibility=Internal \
       --proto_path="$PROTO_DIR" onnx.proto
echo "wrote Sources/FoveaONNX/Generated/onnx.pb.swift"
