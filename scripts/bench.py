#!/usr/bin/env python3
"""`make bench`: Fovea's Swift engine against the PyTorch CPU peer.

    python3 scripts/bench.py [FOVEA_BIN] [--runs 7] [--cache ~/.cache/fovea]

1. Runs `FOVEA_BIN bench --json --runs N` and `scripts/bench_torch.py --runs N`
   one after the other (Fovea first; --torch-first swaps them). Both print
     {"peer": ..., "threads": T, "results": {MODEL: {"forward_ms": [...],
                                                     "forward_backward_ms": [...]}}}
   and a markdown table compares min and median per model and pass; the ratio
   is Fovea / PyTorch (below 1 means Fovea is faster).
2. Times `FOVEA_BIN classify CACHE/photos/chelsea.png` end to end (process start
   to exit, --classify-runs times, default 5) and reads each run's peak RSS from
   os.wait4's rusage. The first run is the coldest one (the page cache is not
   dropped, so later runs find the binary and weights in memory).

3. Throughputs of exact kNN and embedding extraction (both peers print "workloads").
4. The Fashion-MNIST and t-SNE workloads of scripts/bench_fashion.py (training epoch,
   robustness curve, t-SNE on 10k and 70k points against openTSNE and scikit-learn).

Prints the tables and writes them to bench/results.md (--out to change).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PASSES = [("forward_ms", "forward"), ("forward_backward_ms", "forward+backward")]


def fail(msg: str) -> None:
    print(f"bench.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def parse_peer_json(text: str, who: str, key: str = "results") -> dict:
    text = text.strip()
    candidates = [text] + [line for line in reversed(text.splitlines()) if line.lstrip().startswith("{")]
    for c in candidates:
        try:
            data = json.loads(c)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            return data
    fail(f"{who} did not print the expected JSON object; its output was:\n{text[-2000:]}")
    raise AssertionError


def run_peer(cmd: list[str], who: str, env: dict, key: str = "results") -> dict:
    print(f"running {who}: {shlex.join(cmd)}", file=sys.stderr)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    except OSError as e:
        fail(f"cannot run {cmd[0]}: {e}")
    if proc.returncode != 0:
        fail(f"{who} exited with status {proc.returncode}:\n{proc.stderr[-2000:]}")
    return parse_peer_json(proc.stdout, who, key)


def fmt_ms(values) -> str:
    if not values:
        return "—"
    return f"{min(values):.1f} / {statistics.median(values):.1f}"


def fmt_ratio(a, b) -> str:
    return f"{a / b:.2f}" if a and b else "—"


def bench_table(fovea: dict, torch_: dict) -> list[str]:
    models = list(fovea["results"])
    models += [m for m in torch_["results"] if m not in models]
    lines = [
        "| model | pass | Fovea min / median ms | PyTorch min / median ms | ratio (median) | ratio (min) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for m in models:
        for key, label in PASSES:
            f = fovea["results"].get(m, {}).get(key) or []
            t = torch_["results"].get(m, {}).get(key) or []
            if not f and not t:
                continue
            med = fmt_ratio(statistics.median(f) if f else None, statistics.median(t) if t else None)
            mn = fmt_ratio(min(f) if f else None, min(t) if t else None)
            lines.append(f"| {m} | {label} | {fmt_ms(f)} | {fmt_ms(t)} | {med} | {mn} |")
    return lines


ATTRIBUTION_TARGETS = {"gradient": 0.6, "gradcam": 0.6, "occlusion": 0.5, "integrated-gradients": 0.5, "scorecam": 0.5,
                       "pgd-10": 0.7}
ATTRIBUTION_PEERS = {"gradient": "Captum Saliency", "gradcam": "pytorch-grad-cam GradCAM",
                     "occlusion": "Captum Occlusion", "integrated-gradients": "Captum IntegratedGradients",
                     "scorecam": "pytorch-grad-cam ScoreCAM", "pgd-10": "PGD in plain PyTorch"}


def attribution_table(fovea: dict, peer: dict) -> list[str]:
    """Per-image attribution times on EfficientNet-Lite0, Fovea against its peer, with targets."""
    ours, theirs = fovea.get("attribution") or {}, peer.get("attribution") or {}
    lines = [
        "Attribution and attack on EfficientNet-Lite0, one 224x224 photo (chelsea), per image, min / median of 3 runs "
        "(occlusion window 32 stride 16; Integrated Gradients 50 steps; CAMs at `_blocks.15`; PGD 10 steps, eps 2/255):",
        "",
        "| method | peer | Fovea min / median ms | peer min / median ms | ratio (median) | target |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, target in ATTRIBUTION_TARGETS.items():
        f, t = ours.get(name) or [], theirs.get(name) or []
        if not f or not t:
            continue
        ratio = statistics.median(f) / statistics.median(t)
        lines.append(f"| {name} | {ATTRIBUTION_PEERS[name]} | {min(f):.1f} / {statistics.median(f):.1f} | "
                     f"{min(t):.1f} / {statistics.median(t):.1f} | {ratio:.2f} | <= {target} |")
    lines += ["", f"Peak RSS of each whole timing process: Fovea {fovea.get('peakRSSMiB', 0):.0f} MiB, "
              f"peer {peer.get('peakRSSMiB', 0):.0f} MiB."]
    return lines


def workloads_table(fovea: dict, peer: dict) -> list[str]:
    """Throughputs (higher is better): exact kNN and embedding extraction."""
    ours, theirs = fovea.get("workloads") or {}, peer.get("workloads") or {}
    rows = [("knn_qps", "exact 10-NN, 10k queries vs 60k x 1280 (cosine), queries/s"),
            ("embed_images_per_s", "EfficientNet-Lite0 embeddings, batches of 16 at 224x224, images/s")]
    lines = ["Throughput (best / median of 3 runs; ratio = PyTorch median / Fovea median, < 1: Fovea faster):", "",
             "| workload | Fovea | PyTorch | ratio |", "|---|---:|---:|---:|"]
    for key, label in rows:
        f, t = ours.get(key) or [], theirs.get(key) or []
        if f and t:
            lines.append(f"| {label} | {max(f):.0f} / {statistics.median(f):.0f} | {max(t):.0f} / {statistics.median(t):.0f} | "
                         f"{statistics.median(t) / statistics.median(f):.2f} |")
    return lines


def measure_classify(cmd: list[str], runs: int, env: dict) -> tuple[list[float], list[float]]:
    print(f"timing: {shlex.join(cmd)} x{runs}", file=sys.stderr)
    walls, rss = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        with open(os.devnull, "wb") as devnull, subprocess.Popen(
            cmd, stdout=devnull, stderr=subprocess.PIPE, env=env
        ) as proc:
            # Read stderr only after exit would risk a full pipe; classify is
            # expected to be quiet on stderr, so drain it then reap with wait4.
            err = proc.stderr.read()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            fail(f"{shlex.join(cmd)} exited with status {proc.returncode}:\n{err.decode(errors='replace')[-2000:]}")
        walls.append(wall * 1e3)
        rss.append(usage.ru_maxrss / 1024.0)  # Linux: KiB -> MiB
    return walls, rss


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fovea_bin", nargs="?", default=os.path.join(".build", "release", "fovea"),
                   help="Fovea binary (default %(default)s)")
    p.add_argument("--runs", type=int, default=7, help="timed runs per model and pass (default %(default)s)")
    p.add_argument("--classify-runs", type=int, default=5, help="runs of `fovea classify` (default %(default)s)")
    p.add_argument("--cache", default=os.environ.get("FOVEA_CACHE", os.path.expanduser("~/.cache/fovea")),
                   help="fetch-data.sh cache (default %(default)s); exported as FOVEA_CACHE")
    p.add_argument("--classify-args", default="",
                   help="extra arguments for `fovea classify`, shell-quoted (e.g. \"--top 5\")")
    p.add_argument("--torch-first", action="store_true", help="run the PyTorch peer before Fovea")
    p.add_argument("--skip-fashion", action="store_true", help="skip the Fashion-MNIST training, robustness and t-SNE workloads")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results.md"))
    args = p.parse_args()
    if args.runs < 1 or args.classify_runs < 1:
        p.error("--runs and --classify-runs must be >= 1")

    fovea_bin = os.path.abspath(args.fovea_bin)
    if not os.path.isfile(fovea_bin):
        fail(f"Fovea binary {args.fovea_bin} not found; build it first (swift build -c release)")
    if not os.access(fovea_bin, os.X_OK):
        fail(f"Fovea binary {args.fovea_bin} is not executable")
    cache = os.path.expanduser(args.cache)
    photo = os.path.join(cache, "photos", "chelsea.png")
    if not os.path.isfile(photo):
        fail(f"{photo} not found; run scripts/fetch-data.sh {cache}")
    env = dict(os.environ, FOVEA_CACHE=cache)

    fovea_cmd = [fovea_bin, "bench", "--json", "--runs", str(args.runs)]
    torch_cmd = [sys.executable, os.path.join(HERE, "bench_torch.py"), "--runs", str(args.runs), "--cache", cache]
    if args.torch_first:
        torch_ = run_peer(torch_cmd, "PyTorch peer", env)
        fovea = run_peer(fovea_cmd, "fovea bench", env)
    else:
        fovea = run_peer(fovea_cmd, "fovea bench", env)
        torch_ = run_peer(torch_cmd, "PyTorch peer", env)

    attribution_cmd = [sys.executable, os.path.join(HERE, "bench_attribution_torch.py"), "--runs", "3", "--cache", cache]
    attribution_peer = run_peer(attribution_cmd, "Captum / pytorch-grad-cam peer", env, key="attribution")

    classify_cmd = [fovea_bin, "classify", photo] + shlex.split(args.classify_args)
    walls, rss = measure_classify(classify_cmd, args.classify_runs, env)

    header = [
        "# Fovea benchmark",
        "",
        f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- host: {cpu_name()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}",
        f"- Fovea: {fovea.get('peer', 'fovea')}, {fovea.get('threads', '?')} threads; "
        f"PyTorch: {torch_.get('peer', 'pytorch')}, {torch_.get('threads', '?')} threads",
        f"- input 1x3x224x224 float32, batch 1; warm-up then {args.runs} timed runs per pass; "
        "forward+backward = gradient of the top-1 logit w.r.t. the input; "
        "ratio = Fovea / PyTorch (< 1: Fovea faster)",
        "",
    ]
    table1 = bench_table(fovea, torch_)
    table2 = [
        f"`fovea classify photos/chelsea.png`, {args.classify_runs} runs, process start to exit "
        "(run 1 is the coldest; the page cache is not dropped):",
        "",
        "| metric | first run | min | median |",
        "|---|---:|---:|---:|",
        f"| wall time ms | {walls[0]:.1f} | {min(walls):.1f} | {statistics.median(walls):.1f} |",
        f"| peak RSS MiB | {rss[0]:.1f} | {min(rss):.1f} | {statistics.median(rss):.1f} |",
    ]
    if fovea.get("threads") != torch_.get("threads"):
        header.append(f"**Note:** thread counts differ (Fovea {fovea.get('threads')}, "
                      f"PyTorch {torch_.get('threads')}).")
        header.append("")
    table3 = attribution_table(fovea, attribution_peer)
    table4 = workloads_table(fovea, torch_)
    sys.path.insert(0, HERE)
    import bench_fashion
    table5 = [] if args.skip_fashion else bench_fashion.run(fovea_bin, env)
    text = "\n".join(header + table1 + [""] + table2 + [""] + table3 + [""] + table4 + [""] + table5) + "\n"
    print(text, end="")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
