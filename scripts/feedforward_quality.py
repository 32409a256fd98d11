#!/usr/bin/env python3
"""Feed-forward style quality: Johnson (`fovea stylize`) and AdaIN (`fovea adain`) against Gatys.

    python3 scripts/feedforward_quality.py .build/release/fovea [--cache DIR] [--photos 20] [--size 256]
        [--net NET] [--decoder DECODER] [--gatys-iterations 100]

For each of the held-out photos (the last --photos files of CACHE/content by name: the ones
`fovea train-style` and `fovea train-adain` leave out with --holdout 20) and The Scream, all three
methods make a --size x --size result from the same square PNGs, and each result is scored with
the Gatys objective of scripts/style_torch.py (content 1/2 |F - P|^2 at relu4_2; style
sum_l 1/5 E_l over relu1_1..relu5_1, Gram matrices of the same style image): the issue's bar is a
style loss at most 3x, and a content loss at most 2x, Gatys' for the same pair (medians over the
photos are reported, with per-photo ratios). Writes bench/results-feedforward-quality.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import style_torch as st  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fovea")
    p.add_argument("--cache", default=st.DEFAULT_CACHE)
    p.add_argument("--photos", type=int, default=20)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--alpha", type=float, default=1e3)
    p.add_argument("--gatys-iterations", type=int, default=100)
    p.add_argument("--net", help="Johnson network (default: the shipped one)")
    p.add_argument("--decoder", help="AdaIN decoder (default: the shipped one)")
    p.add_argument("--workdir", help="folder for the images (default: a new temporary one); a Gatys result already "
                   "there is reused, so a second network can be scored against the same Gatys runs")
    p.add_argument("--out", default=os.path.join(HERE, "..", "bench", "results-feedforward-quality.md"))
    args = p.parse_args()
    torch.set_num_threads(2)
    net = st.load_vgg16(st.vgg16_onnx_path(args.cache))
    folder = os.path.join(args.cache, "content")
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith((".png", ".jpg", ".jpeg")))
    held_out = files[-args.photos:]
    tmp = args.workdir or tempfile.mkdtemp(prefix="fovea-ff-quality-")
    os.makedirs(tmp, exist_ok=True)
    style_png = os.path.join(tmp, "style.png")
    st.save_image(st.load_image(os.path.join(args.cache, "styles", "scream.jpg"), args.size), style_png)
    style = st.load_image(style_png, args.size)
    rows = []
    for i, photo in enumerate(held_out):
        content_png = os.path.join(tmp, f"content-{i}.png")
        st.save_image(st.load_image(photo, args.size), content_png)
        content = st.load_image(content_png, args.size)
        targets = st.style_targets(net, content, style)
        outputs = {m: os.path.join(tmp, f"{m}-{i}.png") for m in ("gatys", "johnson", "adain")}
        run = lambda cmd: subprocess.run([args.fovea] + cmd, check=True, capture_output=True, text=True)
        if not os.path.exists(outputs["gatys"]):
            run(["style", content_png, style_png, "--size", str(args.size), "--steps", str(args.gatys_iterations),
                 "--alpha", f"{args.alpha:g}", "-o", outputs["gatys"]])
        run(["stylize", content_png, "-o", outputs["johnson"]] + (["--net", args.net] if args.net else []))
        run(["adain", content_png, style_png, "--size", str(args.size), "-o", outputs["adain"]]
            + (["--decoder", args.decoder] if args.decoder else []))
        scores = {}
        with torch.no_grad():
            for m, path in outputs.items():
                _, lc, ls = st.gatys_losses(net, st.load_image(path, args.size), targets, args.alpha)
                scores[m] = (lc.item(), float(ls))
        rows.append((os.path.basename(photo), scores))
        print(os.path.basename(photo), json.dumps(scores), file=sys.stderr, flush=True)

    def ratios(method, part):
        return [s[method][part] / s["gatys"][part] for _, s in rows]
    lines = ["# Feed-forward style quality: Johnson and AdaIN against Gatys", "",
             f"{len(rows)} held-out photos (the last {args.photos} of content/ by name), The Scream, {args.size}x{args.size}; "
             f"Gatys {args.gatys_iterations} L-BFGS iterations, alpha {args.alpha:g}. Scored with the Gatys objective "
             "(scripts/style_torch.py). Bar: style loss <= 3x Gatys, content loss <= 2x Gatys. Made by scripts/feedforward_quality.py.", "",
             "| method | median style / Gatys | max | median content / Gatys | max | pass |", "|---|---|---|---|---|---|"]
    for m in ("johnson", "adain"):
        s, c = ratios(m, 1), ratios(m, 0)
        ok = statistics.median(s) <= 3 and statistics.median(c) <= 2
        lines.append(f"| {m} | {statistics.median(s):.2f} | {max(s):.2f} | {statistics.median(c):.2f} | {max(c):.2f} | {'yes' if ok else 'no'} |")
    lines += ["", "| photo | Gatys content / style | Johnson content / style | AdaIN content / style |", "|---|---|---|---|"]
    for name, s in rows:
        lines.append(f"| {name} | " + " | ".join(f"{s[m][0]:.3g} / {s[m][1]:.3g}" for m in ("gatys", "johnson", "adain")) + " |")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
