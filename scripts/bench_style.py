#!/usr/bin/env python3
"""Texture and style speed: Fovea against the same computations in PyTorch (scripts/style_torch.py).

    python3 scripts/bench_style.py .build/release/fovea [--cache DIR] [--runs 3] [--gatys-iterations 100]

Both sides run on 2 threads, on the same 512x512 content and style images (chelsea and The
Scream, resized once with PIL and written as PNG so that neither side resizes again):

- Gatys: `fovea style` with L-BFGS (history 20), alpha 1000, content relu4_2, style relu1_1..relu5_1,
  against style_torch.gatys (torch.optim.LBFGS, strong Wolfe, the same objective and settings).
  One run each (minutes); seconds per objective evaluation are reported too, as the line searches
  may take a different number of evaluations.
- stylize: the Johnson network's forward pass at 1x3x512x512; adain: encoder to relu4_1 of content
  and style, AdaIN, decoder, at 512; train step: batch 4 at 256 (network, perceptual loss at
  relu1_2/2_2/3_3/4_3, backward, Adam). `fovea bench-style` against the PyTorch modules; random
  weights on both sides. --runs timed runs after a warm-up.

Writes bench/results-style.md (min and median milliseconds, ratio Fovea / PyTorch of the medians).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import style_torch as st  # noqa: E402
from bench import measured_lines  # noqa: E402


def timed(fn, runs):
    fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def torch_feed_forward(runs, onnx, only=None):
    """Times of stylize, adain and a training step (or of `only` one of them), ms."""
    vgg = st.load_vgg16(onnx)
    torch.manual_seed(1)
    image, style = torch.rand(1, 3, 512, 512), torch.rand(1, 3, 512, 512)
    net = st.TransformerNet().eval()
    decoder = st.AdaINDecoder().eval()
    results = {}
    with torch.no_grad():
        if only in (None, "stylize"):
            results["stylize"] = timed(lambda: net(image * 255).div(255).clamp(0, 1), runs)

        def adain():
            fc = vgg.features(image, ["relu4_1"])["relu4_1"]
            fs = vgg.features(style, ["relu4_1"])["relu4_1"]
            decoder(st.adain(fc, fs)).clamp(0, 1)
        if only in (None, "adain"):
            results["adain"] = timed(adain, runs)
    if only not in (None, "train_step"):
        return results

    trained = st.TransformerNet().train()
    optimizer = torch.optim.Adam(trained.parameters(), 1e-3)
    layers = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    with torch.no_grad():
        grams = {k: normalized_gram(f) for k, f in vgg.features(torch.rand(1, 3, 256, 256), layers).items()}
    batch = torch.rand(4, 3, 256, 256)

    def step():
        optimizer.zero_grad()
        y = trained(batch * 255) / 255
        with torch.no_grad():
            target = vgg.features(batch, ["relu2_2"])["relu2_2"]
        f = vgg.features(y, layers)
        loss = ((f["relu2_2"] - target) ** 2).mean()
        for k in layers:
            loss = loss + 5 * ((normalized_gram(f[k]) - grams[k]) ** 2).mean()
        loss.backward()
        optimizer.step()
    results["train_step"] = timed(step, runs)
    return results


def normalized_gram(f):
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def row(name, fovea, peer, note=""):
    fm, pm = statistics.median(fovea), statistics.median(peer)
    return f"| {name} | {min(fovea):.0f} / {fm:.0f} | {min(peer):.0f} / {pm:.0f} | {fm / pm:.2f} | {note} |"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fovea")
    p.add_argument("--cache", default=st.DEFAULT_CACHE)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--gatys-iterations", type=int, default=100)
    p.add_argument("--out", default=os.path.join(HERE, "..", "bench", "results-style.md"))
    args = p.parse_args()
    torch.set_num_threads(2)
    onnx = st.vgg16_onnx_path(args.cache)
    tmp = tempfile.mkdtemp(prefix="fovea-bench-style-")
    content, style = os.path.join(tmp, "content.png"), os.path.join(tmp, "style.png")
    st.save_image(st.load_image(os.path.join(args.cache, "photos", "chelsea.png"), 512), content)
    st.save_image(st.load_image(os.path.join(args.cache, "styles", "scream.jpg"), 512), style)

    print("bench_style: Fovea bench-style ...", flush=True)
    out = subprocess.run([args.fovea, "bench-style", "--runs", str(args.runs), "--json"], check=True, capture_output=True, text=True)
    fovea_ff = json.loads(out.stdout)
    print("bench_style: PyTorch feed-forward ...", flush=True)
    torch_ff = torch_feed_forward(args.runs, onnx)

    n = args.gatys_iterations
    print(f"bench_style: Gatys 512, {n} L-BFGS iterations, Fovea ...", flush=True)
    out = subprocess.run([args.fovea, "style", content, style, "--size", "512", "--steps", str(n), "--alpha", "1000",
                          "--history", "20", "--json", "-o", os.path.join(tmp, "fovea.png")], check=True, capture_output=True, text=True)
    fovea_g = json.loads(out.stdout)
    print("bench_style: Gatys, PyTorch ...", flush=True)
    c, s = st.load_image(content, 512), st.load_image(style, 512)
    _, loss, _, _, evals, seconds = st.gatys(c, s, n, 1000.0, history=20, onnx_path=onnx)
    torch_g = {"loss": loss, "evaluations": evals, "seconds": seconds}

    lines = [
        "# Texture and style speed: Fovea vs PyTorch",
        "",
        *measured_lines(),
        f"- 2 threads each; {args.runs} timed runs after a warm-up (min / median ms); ratio = Fovea / PyTorch medians. "
        "Made by `scripts/bench_style.py` (part of `make bench`).",
        "",
        "| workload | Fovea min / median ms | PyTorch min / median ms | ratio | target |",
        "|---|---|---|---|---|",
        row("stylize, Johnson network, 512x512", fovea_ff["stylize"], torch_ff["stylize"], "<= 0.6"),
        row("adain, encoder + AdaIN + decoder, 512x512", fovea_ff["adain"], torch_ff["adain"], "<= 0.6"),
        row("Johnson training step, batch 4, 256x256", fovea_ff["train_step"], torch_ff["train_step"], "<= 0.8"),
        "",
        f"Gatys, 512x512, {n} L-BFGS iterations (one run each; target: time ratio <= 0.6):",
        "",
        "| | seconds | evaluations | ms / evaluation | final loss |",
        "|---|---|---|---|---|",
        f"| Fovea | {fovea_g['seconds']:.1f} | {fovea_g['evaluations']} | {1000 * fovea_g['seconds'] / fovea_g['evaluations']:.0f} | {fovea_g['loss']:.5g} |",
        f"| PyTorch | {torch_g['seconds']:.1f} | {torch_g['evaluations']} | {1000 * torch_g['seconds'] / torch_g['evaluations']:.0f} | {torch_g['loss']:.5g} |",
        f"| ratio | {fovea_g['seconds'] / torch_g['seconds']:.2f} | | "
        f"{(fovea_g['seconds'] / fovea_g['evaluations']) / (torch_g['seconds'] / torch_g['evaluations']):.2f} | "
        f"{fovea_g['loss'] / torch_g['loss']:.4f} |",
        "",
    ]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
