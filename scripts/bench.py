#!/usr/bin/env python3
"""`make bench`: Fovea's Swift engine against the PyTorch CPU peer.

    python3 scripts/bench.py [FOVEA_BIN] [--runs 7] [--cache ~/.cache/fovea]

1. Runs `FOVEA_BIN bench --json --runs N` and `scripts/bench_torch.py --runs N`
   in --rounds alternating rounds (Fovea first in odd rounds; --torch-first swaps
   them) and pools each side's samples: this host drifts between fast and slow
   states for minutes at a time, and one round each could compare Fovea in one
   state with PyTorch in the other. The attribution timings alternate the same
   way with scripts/bench_attribution_torch.py. Both print
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
# (Fovea's key, row label, the peer's key): a "cold" pass is timed against the peer's plain one.
PASSES = [("forward_ms", "forward", "forward_ms"), ("forward_backward_ms", "forward+backward", "forward_backward_ms"),
          ("forward_backward_cold_ms", "forward+backward, cold", "forward_backward_ms")]


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


def merge_reports(parts: list[dict]) -> dict:
    """One report from several rounds: sample lists concatenated, nested dicts merged,
    peak RSS the largest, other fields from the first round."""
    merged: dict = {}
    for part in parts:
        for key, value in part.items():
            if key not in merged:
                merged[key] = json.loads(json.dumps(value))
            elif isinstance(value, list) and isinstance(merged[key], list):
                merged[key] += value
            elif isinstance(value, dict) and isinstance(merged[key], dict):
                merged[key] = merge_reports([merged[key], value])
            elif key == "peakRSSMiB":
                merged[key] = max(merged[key], value)
    return merged


def alternate(fovea_cmd: list[str], peer_cmd: list[str], peer_who: str, rounds: int, torch_first: bool,
              env: dict, key: str = "results") -> tuple[dict, dict]:
    """Runs Fovea and its peer in alternating rounds and pools their samples."""
    ours, theirs = [], []
    for r in range(rounds):
        if (r % 2 == 0) != torch_first:
            ours.append(run_peer(fovea_cmd, f"fovea bench (round {r + 1}/{rounds})", env, key))
            theirs.append(run_peer(peer_cmd, f"{peer_who} (round {r + 1}/{rounds})", env, key))
        else:
            theirs.append(run_peer(peer_cmd, f"{peer_who} (round {r + 1}/{rounds})", env, key))
            ours.append(run_peer(fovea_cmd, f"fovea bench (round {r + 1}/{rounds})", env, key))
    return merge_reports(ours), merge_reports(theirs)


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
        for key, label, peer_key in PASSES:
            f = fovea["results"].get(m, {}).get(key) or []
            t = torch_["results"].get(m, {}).get(peer_key) or []
            if not f and key != peer_key:
                continue
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


def attribution_table(fovea: dict, peer: dict, rounds: int) -> list[str]:
    """Per-image attribution times on EfficientNet-Lite0, Fovea against its peer, with targets."""
    ours, theirs = fovea.get("attribution") or {}, peer.get("attribution") or {}
    lines = [
        f"Attribution and attack on EfficientNet-Lite0, one 224x224 photo (chelsea), per image, min / median of "
        f"{3 * rounds} runs ({rounds} alternating rounds of 3) "
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


def measure_process(cmd: list[str], env: dict) -> tuple[float, float]:
    """(peak RSS MiB, wall seconds) of one process run to exit; fails with its stderr's tail.
    The peak comes from os.wait4's rusage; a child starts with its parent's RSS as its peak
    (kept across exec), so callers that compare peaks keep their own process small."""
    start = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) as proc:
        # Drain stderr before reaping with wait4, so a full pipe cannot stall the child.
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        fail(f"{shlex.join(cmd)[:300]} exited with status {proc.returncode}:\n{err.decode(errors='replace')[-2000:]}")
    return usage.ru_maxrss / 1024.0, time.perf_counter() - start  # Linux: KiB -> MiB


def measure_classify(cmd: list[str], runs: int, env: dict) -> tuple[list[float], list[float]]:
    print(f"timing: {shlex.join(cmd)} x{runs}", file=sys.stderr)
    samples = [measure_process(cmd, env) for _ in range(runs)]
    return [wall * 1e3 for _, wall in samples], [rss for rss, _ in samples]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measured_lines() -> list[str]:
    """The date and host lines every results file starts with."""
    return [f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
            f"- host: {cpu_name()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"]


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
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating rounds of Fovea and its peer for the model and attribution timings (default %(default)s)")
    p.add_argument("--torch-first", action="store_true", help="run the PyTorch peer first in odd rounds")
    p.add_argument("--skip-fashion", action="store_true", help="skip the Fashion-MNIST training, robustness and t-SNE workloads")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results.md"))
    args = p.parse_args()
    if args.runs < 1 or args.classify_runs < 1 or args.rounds < 1:
        p.error("--runs, --classify-runs and --rounds must be >= 1")

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

    # Models, then attribution, each in alternating rounds; the throughput workloads once.
    fovea_cmd = [fovea_bin, "bench", "--json", "--runs", str(args.runs), "--attribution-runs", "0", "--workload-runs", "0"]
    torch_cmd = [sys.executable, os.path.join(HERE, "bench_torch.py"), "--runs", str(args.runs), "--cache", cache,
                 "--workload-runs", "0"]
    fovea, torch_ = alternate(fovea_cmd, torch_cmd, "PyTorch peer", args.rounds, args.torch_first, env)

    fovea_attribution_cmd = [fovea_bin, "bench", "--json", "--models", "", "--attribution-runs", "3", "--workload-runs", "0"]
    attribution_cmd = [sys.executable, os.path.join(HERE, "bench_attribution_torch.py"), "--runs", "3", "--cache", cache]
    fovea_attribution, attribution_peer = alternate(fovea_attribution_cmd, attribution_cmd, "Captum / pytorch-grad-cam peer",
                                                    args.rounds, args.torch_first, env, key="attribution")
    fovea["attribution"], fovea["peakRSSMiB"] = fovea_attribution["attribution"], fovea_attribution.get("peakRSSMiB", 0)

    fovea["workloads"] = run_peer([fovea_bin, "bench", "--json", "--models", "", "--attribution-runs", "0"],
                                  "fovea bench (workloads)", env)["workloads"]
    torch_["workloads"] = run_peer([sys.executable, os.path.join(HERE, "bench_torch.py"), "--models", "", "--cache", cache],
                                   "PyTorch peer (workloads)", env)["workloads"]

    classify_cmd = [fovea_bin, "classify", photo] + shlex.split(args.classify_args)
    walls, rss = measure_classify(classify_cmd, args.classify_runs, env)

    header = [
        "# Fovea benchmark",
        "",
        *measured_lines(),
        f"- Fovea: {fovea.get('peer', 'fovea')}, {fovea.get('threads', '?')} threads, GEMM by {fovea.get('blas', '?')}; "
        f"PyTorch: {torch_.get('peer', 'pytorch')}, {torch_.get('threads', '?')} threads",
        f"- input 1x3x224x224 float32, batch 1; warm-up then {args.runs} timed runs per pass in each of {args.rounds} "
        "alternating rounds (Fovea, PyTorch, PyTorch, Fovea, ...; samples pooled); "
        "forward+backward = gradient of the top-1 logit w.r.t. the input; "
        "ratio = Fovea / PyTorch (< 1: Fovea faster)",
        "- Fovea's forward and forward+backward passes run as its techniques run them, inside `FrozenWeights.run`: "
        "Winograd filter transforms are made once per weight and reused; each \"cold\" pass makes its own "
        "(timed against the same PyTorch pass)",
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
    table3 = attribution_table(fovea, attribution_peer, args.rounds)
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
