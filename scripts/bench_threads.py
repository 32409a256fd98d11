#!/usr/bin/env python3
"""How Fovea scales with threads: the same workloads at each --threads count, side by side.

    python3 scripts/bench_threads.py .build/release/fovea [--threads 1,2] [--rounds 2] [--cache DIR]

Workloads: forward and forward+backward of two models (`fovea bench`, batch 1 at 224x224),
three attribution methods on EfficientNet-Lite0, exact
t-SNE of scikit-learn's 1797 digits, and one fashion-cnn training epoch (60k images). Rounds
alternate the thread counts (1, 2, 2, 1, ...) so a slow phase of a shared host falls on both;
each cell is the median over rounds (and runs). Speed-up = time at the first count / time at
each. Writes bench/results-threads.md (part of `make bench`).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from bench import measured_lines  # noqa: E402

MODELS = "efficientnet-lite0,resnet18"
METHODS = "gradient,integrated-gradients,occlusion"


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def one_round(fovea, threads, cache, tmp):
    """{workload: (value, unit, higher_is_better)} for one run at `threads`."""
    t = ["--threads", str(threads)]
    _, out = timed([fovea, "bench", "--models", MODELS, "--runs", "5", "--attribution-runs", "3",
                    "--methods", METHODS, "--workload-runs", "0", "--json"] + t)
    report = json.loads(out)
    rows = {}
    for model, passes in report["results"].items():
        rows[f"{model} forward"] = (statistics.median(passes["forward_ms"]), "ms", False)
        rows[f"{model} forward+backward"] = (statistics.median(passes["forward_backward_ms"]), "ms", False)
    for method, times in report.get("attribution", {}).items():
        rows[f"{method}, EfficientNet-Lite0"] = (statistics.median(times), "ms", False)
    workloads = report.get("workloads", {})
    if "knn_qps" in workloads:
        rows["exact 10-NN, 10k x 60k x 1280"] = (statistics.median(workloads["knn_qps"]), "queries/s", True)
    if "embed_images_per_s" in workloads:
        rows["EfficientNet-Lite0 embeddings, batches of 16"] = (statistics.median(workloads["embed_images_per_s"]), "images/s", True)
    digits = os.path.join(tmp, "digits.npy")
    if not os.path.exists(digits):
        timed([fovea, "embed", os.path.join(cache, "datasets", "digits.csv"), "-o", digits])
    seconds, _ = timed([fovea, "tsne", digits, "-o", os.path.join(tmp, "y.npy")] + t)
    rows["exact t-SNE, 1797 digits (process)"] = (seconds, "s", False)
    seconds, _ = timed([fovea, "train", "fashion-mnist", "--model", "fashion-cnn", "--epochs", "1",
                        "-o", os.path.join(tmp, "w.safetensors")] + t)
    rows["fashion-cnn training epoch, 60k images (process)"] = (seconds, "s", False)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fovea")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--rounds", type=int, default=2, help="rounds per thread count (default 2)")
    p.add_argument("--cache", default=os.environ.get("FOVEA_CACHE", os.path.expanduser("~/.cache/fovea")))
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results-threads.md"))
    args = p.parse_args()
    counts = [int(c) for c in args.threads.split(",")]
    samples = {c: {} for c in counts}
    order = []
    for r in range(args.rounds):
        order += counts if r % 2 == 0 else counts[::-1]
    with tempfile.TemporaryDirectory() as tmp:
        for i, c in enumerate(order):
            print(f"bench_threads: round {i + 1}/{len(order)}, {c} thread(s)", file=sys.stderr, flush=True)
            for name, (value, unit, higher) in one_round(args.fovea, c, args.cache, tmp).items():
                samples[c].setdefault(name, []).append((value, unit, higher))
    base = counts[0]
    lines = [
        "# Fovea on 1 thread and more",
        "",
        *measured_lines(),
        f"- `--threads {args.threads}`, {args.rounds} alternating rounds each; median of the rounds (and of each round's runs); "
        f"speed-up = time at {base} thread(s) / time (throughputs inverted). Made by `scripts/bench_threads.py` (part of `make bench`).",
        "",
        "| workload | " + " | ".join(f"{c} thread{'s' if c > 1 else ''}" for c in counts) + " | "
        + " | ".join(f"speed-up {c}" for c in counts[1:]) + " |",
        "|---|" + "---:|" * (2 * len(counts) - 1),
    ]
    for name in samples[base]:
        unit, higher = samples[base][name][0][1], samples[base][name][0][2]
        medians = [statistics.median(v for v, _, _ in samples[c][name]) for c in counts]
        ups = [(m / medians[0]) if higher else (medians[0] / m) for m in medians[1:]]
        lines.append(f"| {name} | " + " | ".join(f"{m:.1f} {unit}" for m in medians) + " | "
                     + " | ".join(f"{u:.2f}x" for u in ups) + " |")
    text = "\n".join(lines) + "\n"
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
