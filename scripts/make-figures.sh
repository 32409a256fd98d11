#!/usr/bin/env bash
# make-figures.sh [FOVEA] [CACHE]: redraws the README's first pictures (classify, explain,
# saliency --sanity, the two t-SNE maps) with the commands their captions give. About two
# minutes on 2 cores. `make docs` runs it with make-gallery.sh and make-style-gallery.sh.
set -euo pipefail
FOVEA=${1:-.build/release/fovea}
CACHE=${2:-${FOVEA_CACHE:-$HOME/.cache/fovea}}
P=$CACHE/photos
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fovea-figures.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p docs

"$FOVEA" classify "$P/chelsea.png" "$P/coffee.png" "$P/rocket.jpg" -o docs/classify.png
"$FOVEA" explain "$P/chelsea.png" -o "$TMP/explain"
"$FOVEA" saliency "$P/chelsea.png" --method gradcam --sanity --no-faithfulness -o "$TMP/sal.png" > /dev/null
# t-SNE of scikit-learn's digits: a scatter by class beside the image map.
"$FOVEA" embed "$CACHE/datasets/digits.csv" -o "$TMP/digits.npy" --labels "$TMP/digits-labels.npy"
"$FOVEA" tsne "$TMP/digits.npy" -o "$TMP/digits-coords.npy"
"$FOVEA" map "$TMP/digits-coords.npy" --labels "$TMP/digits-labels.npy" --axes "t-SNE 1,t-SNE 2" -o "$TMP/digits-scatter.png"
"$FOVEA" map "$TMP/digits-coords.npy" --digits "$CACHE/datasets/digits.csv" -o "$TMP/digits-map.png"
# Fashion-MNIST's 10k test images in fashion-cnn's feature space.
"$FOVEA" embed fashion-mnist --model fashion-cnn -o "$TMP/fm.npy" --labels "$TMP/fm-labels.npy" --paths "$TMP/fm.txt"
"$FOVEA" tsne "$TMP/fm.npy" -o "$TMP/fm-coords.npy"
"$FOVEA" map "$TMP/fm-coords.npy" --labels "$TMP/fm-labels.npy" --classes fashion-mnist --axes "t-SNE 1,t-SNE 2" -o "$TMP/fm-scatter.png"
"$FOVEA" map "$TMP/fm-coords.npy" --images "$TMP/fm.txt" -o "$TMP/fm-map.png" --grid 40
python3 - "$TMP" <<'PY'
import sys
from PIL import Image
tmp = sys.argv[1]
def side_by_side(a, b, out):
    left, right = Image.open(a).convert("RGB"), Image.open(b).convert("RGB")
    h = max(left.height, right.height)
    canvas = Image.new("RGB", (left.width + right.width + 12, h), "white")
    canvas.paste(left, (0, (h - left.height) // 2)); canvas.paste(right, (left.width + 12, (h - right.height) // 2))
    canvas.save(out, quality=88)
side_by_side(f"{tmp}/digits-scatter.png", f"{tmp}/digits-map.png", "docs/tsne-digits.jpg")
side_by_side(f"{tmp}/fm-scatter.png", f"{tmp}/fm-map.png", "docs/tsne-fashion.jpg")
Image.open(f"{tmp}/explain/chelsea.png").convert("RGB").save("docs/explain-chelsea.jpg", quality=88)
Image.open(f"{tmp}/sal-sanity.png").convert("RGB").save("docs/sanity-gradcam.jpg", quality=85)
PY
echo "pictures in docs/"
