#!/usr/bin/env bash
# Draws the README's feature-visualisation gallery into docs/ with the commands shown there.
#   scripts/make-gallery.sh [FOVEA_BIN]     (after `make demo`; about 15 minutes on 2 cores)
set -euo pipefail
F=${1:-.build/release/fovea}
P=${FOVEA_CACHE:-$HOME/.cache/fovea}/photos
for layer in _blocks.2 _blocks.8 _blocks.14; do
    $F visualize --layer $layer --channels 0-7 --size 128 --steps 256 -o docs/visualize-${layer#_}.jpg
done
$F visualize --class 1,130,207,948,323 --steps 512 -o docs/visualize-classes.jpg
$F visualize --model fashion-cnn --class 0,1,2,3,4,5,6,7,8,9 --steps 256 -o docs/visualize-fashion.png
$F visualize --class flamingo --priors-table --steps 256 -o docs/priors-table.jpg
$F dream $P/chelsea.png -o docs/dream-chelsea.jpg
$F invert $P/chelsea.png --layers _blocks.1,_blocks.2,_blocks.4,_blocks.8,_blocks.12,_blocks.15 -o docs/inversion-row.jpg
