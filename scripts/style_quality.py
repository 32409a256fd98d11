#!/usr/bin/env python3
"""The quality bar of Gatys style transfer: Fovea's L-BFGS must reach PyTorch's loss.

    python3 scripts/style_quality.py [FOVEA_BIN] [--cache ~/.cache/fovea] [--size 512] [--iterations 200]
                                     [--alpha 1000] [--torch-only] [--out bench/results-style-quality.md]

Content CACHE/photos/chelsea.png, style CACHE/styles/scream.jpg (Munch's The Scream; while the cache
lacks it, the copy in Debian's darknet package, /tmp/debs/darknet_*.deb, is extracted with dpkg-deb).
Both sides resize each image to exactly size x size and minimise
    content_loss(relu4_2) + alpha * style_loss(relu1_1, relu2_1, relu3_1, relu4_1, relu5_1; 1/5 each)
from the content image with L-BFGS for --iterations iterations (definitions in scripts/style_torch.py):
  Fovea    `fovea style CONTENT STYLE --size S --steps N --optimizer lbfgs --alpha A --json -o OUT.png`,
           whose JSON has "loss", "content_loss", "style_loss", "evaluations", "seconds";
  PyTorch  style_torch.gatys(): torch.optim.LBFGS(lr=1, max_iter=N, history_size=20,
           line_search_fn="strong_wolfe", no early stop) in one step() call, 2 threads.
Passes if Fovea's final loss <= 1.02 x PyTorch's. As a cross-check (not part of the bar), the torch
reference also evaluates the loss of both saved 8-bit PNGs, so that neither side's own report is
taken on trust. Prints a markdown table (also written to --out) and exits 1 if the check fails,
2 if the Fovea half did not run (--torch-only, no binary, or `fovea style` failed; the table
still has the PyTorch half).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import style_torch  # noqa: E402

DARKNET_SCREAM = "./usr/share/darknet/data/scream.jpg"
BAR = 1.02


def style_image(cache, tmp):
    """CACHE/styles/scream.jpg, else scream.jpg extracted from the darknet .deb into tmp."""
    path = os.path.join(cache, "styles", "scream.jpg")
    if os.path.exists(path):
        return path
    for deb in sorted(glob.glob("/tmp/debs/darknet_*.deb")):
        subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
        extracted = os.path.normpath(os.path.join(tmp, DARKNET_SCREAM))
        if os.path.exists(extracted):
            return extracted
    sys.exit(f"style_quality.py: no {path} and no darknet .deb in /tmp/debs (run scripts/fetch-data.sh)")


def run_fovea(binary, content, style, args, out_png):
    command = [binary, "style", content, style, "--size", str(args.size), "--steps", str(args.iterations),
               "--optimizer", "lbfgs", "--alpha", f"{args.alpha:g}", "--json", "-o", out_png]
    print("$", " ".join(command), file=sys.stderr)
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.strip().startswith("{")]
    if done.returncode != 0 or not lines:
        return None, f"fovea style failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"
    report = json.loads(lines[-1])
    # Fovea reports the weighted parts (content weight 1, alpha x style); the table shows raw losses.
    report["content_loss"] = report["contentLoss"]
    report["style_loss"] = report["styleLoss"] / args.alpha
    return report, None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fovea", nargs="?", default=os.path.join(ROOT, ".build/release/fovea"))
    p.add_argument("--cache", default=style_torch.DEFAULT_CACHE)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--alpha", type=float, default=1e3)
    p.add_argument("--torch-only", action="store_true", help="run only the PyTorch half")
    p.add_argument("--out", default=os.path.join(ROOT, "bench/results-style-quality.md"))
    args = p.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        return compare(args, tmp)


def compare(args, tmp):
    content_path = os.path.join(args.cache, "photos", "chelsea.png")
    style_path = style_image(args.cache, tmp)
    net = style_torch.load_vgg16(style_torch.vgg16_onnx_path(args.cache))
    # Both sides read the same square PNGs (Fovea resizes only the longer side, so the squares
    # are made once here, and PyTorch reloads the 8-bit files too).
    for name, path in (("content", content_path), ("style", style_path)):
        square = os.path.join(tmp, f"{name}-{args.size}.png")
        style_torch.save_image(style_torch.load_image(path, args.size), square)
        if name == "content":
            content_path = square
        else:
            style_path = square
    content = style_torch.load_image(content_path, args.size)
    style = style_torch.load_image(style_path, args.size)

    image, loss, lc, ls, evaluations, seconds = style_torch.gatys(content, style, args.iterations, args.alpha, net=net)
    torch_png = os.path.join(tmp, "torch.png")
    style_torch.save_image(image, torch_png)
    ours = {"loss": loss, "content_loss": lc, "style_loss": ls, "evaluations": evaluations, "seconds": seconds,
            "initial_loss": style_torch.gatys.initial_loss}
    print("pytorch", json.dumps(ours), file=sys.stderr)

    fovea = None
    fovea_png = os.path.join(tmp, "fovea.png")
    if args.torch_only:
        reason = "--torch-only"
    elif not os.path.exists(args.fovea):
        reason = f"no binary at {args.fovea}"
    else:
        fovea, reason = run_fovea(args.fovea, content_path, style_path, args, fovea_png)
        print("fovea", json.dumps(fovea) if fovea else reason, file=sys.stderr)

    targets = style_torch.style_targets(net, content, style)
    with torch.no_grad():
        def png_loss(path):
            return style_torch.gatys_losses(net, style_torch.load_image(path, args.size), targets, args.alpha)[0].item()
        torch_png_loss = png_loss(torch_png)
        fovea_png_loss = png_loss(fovea_png) if fovea and os.path.exists(fovea_png) else None

    def g(v):
        return "-" if v is None else f"{v:.6g}"

    def cell(key, fmt="{:.6g}"):
        return "not run" if fovea is None else fmt.format(fovea[key])

    table = ["| | Fovea | PyTorch |", "|---|---|---|"]
    table += [f"| final loss | {cell('loss')} | {loss:.6g} |",
              f"| content loss (relu4_2) | {cell('content_loss')} | {lc:.6g} |",
              f"| style loss (before x alpha) | {cell('style_loss')} | {ls:.6g} |",
              f"| loss evaluations | {cell('evaluations', '{}')} | {evaluations} |",
              f"| seconds | {cell('seconds', '{:.1f}')} | {seconds:.1f} |",
              f"| loss of the saved 8-bit PNG (torch reference) | {g(fovea_png_loss)} | {torch_png_loss:.6g} |"]
    if fovea is None:
        verdict = f"Fovea not run ({reason}): no verdict."
        passed = None
    else:
        ratio = fovea["loss"] / loss
        passed = ratio <= BAR
        verdict = (f"Fovea / PyTorch final loss = {ratio:.4f} (bar <= {BAR}): **{'pass' if passed else 'FAIL'}**")
    text = (f"# Gatys style transfer quality\n\n"
            f"chelsea.png styled as scream.jpg, both {args.size}x{args.size}, alpha {args.alpha:g}, "
            f"{args.iterations} L-BFGS iterations from the content image (history 20, strong Wolfe line search); "
            f"PyTorch {torch.__version__} on {torch.get_num_threads()} threads, starting loss {ours['initial_loss']:.6g}.\n\n"
            + "\n".join(table) + f"\n\n{verdict}\n")
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    return 2 if passed is None else (0 if passed else 1)


if __name__ == "__main__":
    sys.exit(main())
