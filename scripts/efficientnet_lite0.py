"""EfficientNet-Lite0 in plain PyTorch, plus Fovea's reference preprocessing.

The module layout and parameter names follow the state dicts published for
lukemelas/EfficientNet-PyTorch (e.g. efficientnet-lite0-57934424.pth):
`_conv_stem`, `_bn0`, `_blocks.N.{_expand_conv,_bn0,_depthwise_conv,_bn1,
_project_conv,_bn2}`, `_conv_head`, `_bn1`, `_fc`. Every layer is a real
submodule, so forward hooks on e.g. `_blocks.10` or `_conv_head` work.

Architecture facts: no squeeze-excitation, ReLU6 activations, BatchNorm eps
1e-3, bias-free convolutions with TensorFlow "SAME" padding computed from the
input size (asymmetric at stride 2: the extra row/column goes after).

Preprocessing (`preprocess`) -- the Swift side must reproduce this bit-exactly:

    img  = PIL.Image.open(path).convert("RGB")
    w, h = img.size
    side = int(round(min(w, h) * 0.875))     # Python round(): ties to EVEN
    left = (w - side) // 2                   # floor division
    top  = (h - side) // 2
    crop = img.crop((left, top, left + side, top + side))      # integer box
    crop = crop.resize((224, 224), PIL.Image.BICUBIC)          # uint8 RGB
    x    = (float32(crop) - 127) / 128, laid out 1x3x224x224 (NCHW)

The tie rule matters: chelsea.png is 451x300, 300 * 0.875 = 262.5 -> side 262
(Swift: `.rounded(.toNearestOrEven)`); rounding half up (263) moves the
tiger-cat probability from .385 to .418. The crop is taken on integer pixel
coordinates *before* resizing (no float `box=` argument).

Pillow's BICUBIC resize of an 8-bit RGB image (checked bit-exactly against an
independent re-implementation for chelsea/coffee/astronaut, Pillow 13):
  * separable: a horizontal pass (to 224 wide) whose result is stored as uint8,
    then a vertical pass on that intermediate image;
  * per output index o, with scale = in/out, fs = max(scale, 1), support = 2*fs,
    center = (o + 0.5) * scale (double):
      lo = max(int(center - support + 0.5), 0)   (int() truncates)
      hi = min(int(center + support + 0.5), in)
      w[j] = cubic((lo + j - center + 0.5) / fs), j = 0 ..< hi - lo,
      cubic(t) with a = -0.5 on |t|: t<1: ((a+2)t - (a+3))t^2 + 1;
      t<2: (((t-5)t + 8)t - 4)a; else 0;
      weights divided by their sum (if non-zero);
  * fixed point with 22 fractional bits: k = int(w * 2^22 + 0.5) for w >= 0,
    int(w * 2^22 - 0.5) for w < 0 (truncation); each output is
    clamp((2^21 + sum(k * pixel)) >> 22, 0, 255) with an arithmetic shift.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3
INPUT_SIZE = 224
CROP_FRACTION = 0.875
MEAN = 127.0
STD = 128.0

# (repeats, kernel, stride, expand ratio, output channels) per stage.
STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
DROPOUT = 0.2


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME" padding along one axis: (before, after)."""
    out = math.ceil(size / stride)
    eff_k = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + eff_k - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d (no implicit padding) preceded by TF "SAME" padding."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(in_ch, out_ch, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        dh, dw = self.dilation
        top, bottom = same_padding(ih, kh, sh, dh)
        left, right = same_padding(iw, kw, sw, dw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


def bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-excitation."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
        super().__init__()
        self.in_ch, self.out_ch, self.stride, self.expand = in_ch, out_ch, stride, expand
        mid = in_ch * expand
        if expand != 1:
            self._expand_conv = Conv2dSame(in_ch, mid, 1)
            self._bn0 = bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = bn(mid)
        self._project_conv = Conv2dSame(mid, out_ch, 1)
        self._bn2 = bn(out_ch)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand != 1:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        if self.use_residual:
            y = y + x
        return y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, dropout: float = DROPOUT):
        super().__init__()
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = bn(STEM_CHANNELS)
        blocks = []
        in_ch = STEM_CHANNELS
        for repeats, kernel, stride, expand, out_ch in STAGES:
            for r in range(repeats):
                blocks.append(MBConvBlock(in_ch, out_ch, kernel, stride if r == 0 else 1, expand))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(in_ch, HEAD_CHANNELS, 1)
        self._bn1 = bn(HEAD_CHANNELS)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        x = self._avg_pooling(x).flatten(1)
        x = self._dropout(x)
        return self._fc(x)


WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


def default_cache() -> str:
    return os.environ.get("FOVEA_CACHE", os.path.expanduser("~/.cache/fovea"))


def load_pretrained(cache: str | None = None, weights: str | None = None) -> EfficientNetLite0:
    """Build the model, load the ImageNet weights strictly, switch to eval()."""
    path = weights or os.path.join(cache or default_cache(), "models", WEIGHTS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found; run scripts/fetch-data.sh first")
    model = EfficientNetLite0()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def center_crop_box(w: int, h: int) -> tuple[int, int, int, int]:
    """Integer centre-crop box (left, top, right, bottom), 87.5% of the short side."""
    side = int(round(min(w, h) * CROP_FRACTION))
    left = (w - side) // 2
    top = (h - side) // 2
    return left, top, left + side, top + side


def preprocess(path: str) -> tuple[np.ndarray, torch.Tensor]:
    """Return (uint8 224x224x3 RGB crop, float32 1x3x224x224 normalised tensor)."""
    from PIL import Image

    with Image.open(path) as im:
        img = im.convert("RGB")
    crop = img.crop(center_crop_box(*img.size)).resize((INPUT_SIZE, INPUT_SIZE), Image.BICUBIC)
    pixels = np.asarray(crop, dtype=np.uint8).copy()
    x = (torch.from_numpy(pixels).permute(2, 0, 1).float().unsqueeze(0) - MEAN) / STD
    return pixels, x.contiguous()


def load_labels(cache: str | None = None) -> list[str]:
    import json

    path = os.path.join(cache or default_cache(), "imagenet1k_label_to_names.json")
    with open(path) as f:
        d = json.load(f)
    return [d[str(i)] for i in range(len(d))]


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Classify photos with EfficientNet-Lite0 (PyTorch reference).")
    p.add_argument("images", nargs="+")
    p.add_argument("--cache", default=default_cache())
    p.add_argument("--top", type=int, default=5)
    args = p.parse_args(argv)
    model = load_pretrained(args.cache)
    labels = load_labels(args.cache)
    for path in args.images:
        _, x = preprocess(path)
        with torch.no_grad():
            prob = model(x).softmax(1)[0]
        values, indices = prob.topk(args.top)
        print(path)
        for v, i in zip(values.tolist(), indices.tolist()):
            print(f"  {i:4d} {v:.3f} {labels[i]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
