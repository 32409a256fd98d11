#!/usr/bin/env bash
# Installs the Debian packages Fovea needs that are missing: OpenBLAS (never the reference
# BLAS), libpng, libjpeg, zlib, libhdf5 (Keras .h5 import), FFTW, oneDNN (convolutions), Cairo and Pango with the
# DejaVu fonts (figure text), Fashion-MNIST (dataset-fashion-mnist, 30 MB), Chromium and its
# WebDriver (the viewer's browser tests), and python3 with pip (data wheels, Selenium).
set -euo pipefail
packages=(libopenblas-dev libpng-dev libjpeg-dev zlib1g-dev libhdf5-dev libfftw3-dev libdnnl-dev libcairo2-dev libpango1.0-dev fonts-dejavu-core
          dataset-fashion-mnist chromium chromium-driver python3 python3-pip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A python3 with pip from elsewhere (pyenv, a venv) is as good as Debian's.
if [[ " ${missing[*]-} " == *" python3-pip "* ]] && python3 -m pip --version >/dev/null 2>&1; then
    missing=("${missing[@]/python3-pip}")
fi
if [[ " ${missing[*]-} " == *" python3 "* ]] && command -v python3 >/dev/null 2>&1; then
    missing=("${missing[@]/python3}")
fi
read -r -a missing <<< "${missing[*]-}"
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
