#!/usr/bin/env python3
"""The quality bar of feature visualisation (issue 15), measured with the fovea binary.

    python3 scripts/synthesis_quality.py [FOVEA_BIN] [--cache ~/.cache/fovea] [--out bench/results-synthesis-quality.md]

1. Class visualisation for EfficientNet-Lite0, 512 steps, default settings (fft + decorrelation +
   Lucid's standard transforms), for goldfish 1, flamingo 130, golden retriever 207, Granny Smith
   948 and monarch 323: the mean probability of the class over 16 random standard transforms of
   the result must be >= 0.9.
2. fashion-cnn: one visualisation per class, each classified as its class with p >= 0.9.
3. A channel visualisation (_blocks.4 channel 7, _blocks.10 channel 3) must raise the channel's
   mean activation above the largest it reaches on any photo the set-up fetches.
4. Inversion of chelsea at _blocks.2: relative feature error <= 0.05 and PSNR >= 20 dB; at
   _blocks.10: relative feature error <= 0.1.
Prints a markdown table (also written to --out) and exits 1 if any check fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fovea(binary, *args):
    done = subprocess.run([binary, *args, "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"synthesis_quality.py: fovea {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fovea", nargs="?", default=os.path.join(ROOT, ".build/release/fovea"))
    p.add_argument("--cache", default=os.environ.get("FOVEA_CACHE", os.path.expanduser("~/.cache/fovea")))
    p.add_argument("--out", default=os.path.join(ROOT, "bench/results-synthesis-quality.md"))
    args = p.parse_args()
    photos = os.path.join(args.cache, "photos")
    tmp = tempfile.mkdtemp()
    rows = []   # (check, measured, bar, passed)

    for index, name in ((1, "goldfish"), (130, "flamingo"), (207, "golden retriever"), (948, "Granny Smith"), (323, "monarch")):
        r = fovea(args.fovea, "visualize", "--class", str(index), "--steps", "512", "-o", f"{tmp}/class{index}.png")
        p16 = r["classProbabilitiesUnderTransforms"][0]
        rows.append((f"EfficientNet-Lite0 class {index} {name}: mean p over 16 transforms", f"{p16:.3f}", ">= 0.9", p16 >= 0.9))

    for c in range(10):
        r = fovea(args.fovea, "visualize", "--model", "fashion-cnn", "--class", str(c), "--steps", "256", "-o", f"{tmp}/fashion{c}.png")
        p1 = r["classProbabilities"][0]
        rows.append((f"fashion-cnn class {c}: p", f"{p1:.3f}", ">= 0.9", p1 >= 0.9))

    for layer, channel in (("_blocks.4", 7), ("_blocks.10", 3)):
        r = fovea(args.fovea, "visualize", "--layer", layer, "--channel", str(channel), "--steps", "512", "--compare", photos,
                  "-o", f"{tmp}/channel.png")
        best = r["bestPhoto"]
        rows.append((f"{layer} channel {channel}: mean activation (best photo: {os.path.basename(best['file'])} {best['objective']:.2f})",
                     f"{r['objectiveOnImage']:.2f}", f"> {best['objective']:.2f}", r["objectiveOnImage"] > best["objective"]))

    inversion = fovea(args.fovea, "invert", os.path.join(photos, "chelsea.png"), "--layers", "_blocks.2,_blocks.10", "-o", f"{tmp}/inv.png")
    for row in inversion:
        bar = 0.05 if row["layer"] == "_blocks.2" else 0.1
        rows.append((f"inversion at {row['layer']}: relative feature error", f"{row['relativeError']:.4f}", f"<= {bar}", row["relativeError"] <= bar))
        if row["layer"] == "_blocks.2":
            rows.append(("inversion at _blocks.2: PSNR against the crop (dB)", f"{row['psnr']:.1f}", ">= 20", row["psnr"] >= 20))

    table = ["| check | measured | bar | |", "|---|---|---|---|"]
    table += [f"| {c} | {m} | {b} | {'pass' if ok else 'FAIL'} |" for c, m, b, ok in rows]
    text = "# Feature visualisation quality\n\n" + "\n".join(table) + "\n"
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
