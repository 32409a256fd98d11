#!/usr/bin/env python3
"""What a perfect AdaIN decoder would score: the decoder's training objective minimised over the
pixels of each held-out result, scored like the decoders are.

    python3 scripts/adain_pixel_bound.py WORKDIR [--photos 0,5,10] [--steps 300] [--style-weight 10]

WORKDIR is a `scripts/feedforward_quality.py --workdir` folder (content-I.png, style.png and
gatys-I.png at one size). For each photo I the image x starts at the photo and takes --steps Adam
steps (lr 0.01, clamped to 0..1) on the objective `fovea train-adain` trains its decoder with:
mean((relu4_1(x) - t)^2) + style_weight * sum over relu1_1..relu4_1 of mean((mu(x) - mu(s))^2) +
mean((sigma(x) - sigma(s))^2), t = AdaIN(relu4_1(photo), relu4_1(style)), sigma = sqrt(biased
var + 1e-5). x is then scored with the Gatys objective (scripts/style_torch.py, alpha 1000) as
a ratio to the Gatys result's losses, and so is the decoder's own result (adain-I.png) where the
folder has it. Prints one line per photo and the medians: the objective's reach, against which
a decoder's shortfall is training, not the loss.
"""
import argparse
import os
import statistics
import sys

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import style_torch as st  # noqa: E402

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workdir")
    p.add_argument("--photos", default="0,5,10")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--style-weight", type=float, default=10)
    p.add_argument("--cache", default=st.DEFAULT_CACHE)
    args = p.parse_args()
    torch.set_num_threads(2)
    net = st.load_vgg16(st.vgg16_onnx_path(args.cache))
    image = lambda name: os.path.join(args.workdir, name)  # noqa: E731
    style_png = image("style.png")
    if not os.path.exists(style_png):
        sys.exit(f"adain_pixel_bound.py: {style_png} not found (run scripts/feedforward_quality.py --workdir {args.workdir})")
    size = Image.open(style_png).size[0]
    style = st.load_image(style_png, size)
    with torch.no_grad():
        fs = net.features(style, LAYERS)
    bound, decoder = [], []
    for i in (int(v) for v in args.photos.split(",")):
        content = st.load_image(image(f"content-{i}.png"), size)
        targets = st.style_targets(net, content, style)
        with torch.no_grad():
            t = st.adain(net.features(content, ["relu4_1"])["relu4_1"], fs["relu4_1"])
            _, gc, gs = st.gatys_losses(net, st.load_image(image(f"gatys-{i}.png"), size), targets, 1e3)
        x = content.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=0.01)
        for _ in range(args.steps):
            opt.zero_grad()
            f = net.features(x, LAYERS)
            loss = ((f["relu4_1"] - t) ** 2).mean()
            for name in LAYERS:
                (a, b), (c, d) = st._mean_std(f[name], 1e-5), st._mean_std(fs[name], 1e-5)
                loss = loss + args.style_weight * (((a - c) ** 2).mean() + ((b - d) ** 2).mean())
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
        with torch.no_grad():
            _, c, s = st.gatys_losses(net, x, targets, 1e3)
        bound.append((float(s) / float(gs), float(c) / float(gc)))
        line = f"photo {i}: pixel optimum style {bound[-1][0]:.2f}x content {bound[-1][1]:.2f}x Gatys'"
        if os.path.exists(image(f"adain-{i}.png")):
            with torch.no_grad():
                _, c, s = st.gatys_losses(net, st.load_image(image(f"adain-{i}.png"), size), targets, 1e3)
            decoder.append((float(s) / float(gs), float(c) / float(gc)))
            line += f"; decoder {decoder[-1][0]:.2f}x / {decoder[-1][1]:.2f}x"
        print(line, flush=True)
    print(f"median: pixel optimum style {statistics.median(b[0] for b in bound):.2f}x content "
          f"{statistics.median(b[1] for b in bound):.2f}x" + (f"; decoder {statistics.median(d[0] for d in decoder):.2f}x / "
                                                              f"{statistics.median(d[1] for d in decoder):.2f}x" if decoder else ""))


if __name__ == "__main__":
    main()
