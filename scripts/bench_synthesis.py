#!/usr/bin/env python3
"""Feature visualisation speed: `fovea visualize` against torch-lucent and horama (MACO).

    python3 scripts/bench_synthesis.py [FOVEA_BIN] [--steps 32] [--runs 3] [--rounds 3]
                                       [--maco-flags "..."] [--cache ~/.cache/fovea]

In --rounds alternating rounds (Fovea first in odd rounds; --peer-first swaps them) it runs each
Fovea workload --runs times, one process each, and scripts/bench_synthesis_torch.py once
(--runs timed runs per workload after a warm-up), then pools the samples. Fovea's
"stepsPerSecond" covers the optimisation only (not the model load) but has no warm-up run.
All four workloads are EfficientNet-Lite0 at 224x224 with --steps steps:

  lucent_channel_blocks4  --layer _blocks.4 --channel 0, fft + decorrelation + standard transforms
  lucent_class            --class 1 (goldfish logit), the same
  lucent_channel_blocks2  --layer _blocks.2 --channel 0, the same
  maco_class              --class 1 --param maco, against horama 0.3.0's maco

Writes a markdown table (--out, default bench/results-synthesis.md) with min and median steps/s
per side and the ratio Fovea time / peer time per step (median; below 1: Fovea faster), and
Fovea's and lucent's `_blocks.2` channel speed against their class speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench import measured_lines, merge_reports, run_peer  # noqa: E402

LUCENT = ["--size", "224", "--param", "fft", "--decorrelate", "--transforms", "standard", "--seed", "0"]
# horama's MACO per step: 6 crops (side 0.25-0.30 of the image, centres 0.5 + 0.15 N(0,1)),
# each resized to 224 with noise 0.05 (Gaussian + uniform), then NAdam at lr 1.0
# (scripts/bench_synthesis_torch.py lists the details). `visualize` has no flags for these crops
# yet: pass the ones that match with --maco-flags; the table notes which flags were used.
WORKLOADS = [  # (key, row label, Fovea arguments after `visualize`)
    ("lucent_channel_blocks4", "`_blocks.4` channel 0 (lucent)", ["--layer", "_blocks.4", "--channel", "0"] + LUCENT),
    ("lucent_class", "class 1 logit (lucent)", ["--class", "1"] + LUCENT),
    ("lucent_channel_blocks2", "`_blocks.2` channel 0 (lucent)", ["--layer", "_blocks.2", "--channel", "0"] + LUCENT),
    ("maco_class", "class 1 logit, MACO (horama)", ["--class", "1", "--param", "maco", "--size", "224", "--seed", "0"]),
]


def fail(msg: str) -> None:
    print(f"bench_synthesis.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def check_visualize(fovea_bin: str) -> None:
    if not os.access(fovea_bin, os.X_OK):
        fail(f"Fovea binary {fovea_bin} not found or not executable; build it first (swift build -c release)")
    proc = subprocess.run([fovea_bin, "visualize", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        fail(f"{fovea_bin} has no `visualize` command yet (`fovea visualize --help` exited {proc.returncode})")


def fovea_steps_per_second(cmd: list[str], env: dict) -> float:
    print(f"running {shlex.join(cmd)}", file=sys.stderr)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        fail(f"{shlex.join(cmd)} exited with status {proc.returncode}:\n{proc.stderr[-2000:]}")
    text = proc.stdout
    try:
        report = json.loads(text[text.index("{"):])  # --json prints one (possibly multi-line) object
        return float(report["stepsPerSecond"])
    except (ValueError, KeyError, TypeError):
        fail(f"{shlex.join(cmd)} printed no JSON object with \"stepsPerSecond\":\n{text[-2000:]}")
        raise AssertionError


def run_fovea(fovea_bin: str, steps: int, runs: int, maco_flags: list[str], env: dict) -> dict:
    results = {}
    for key, _, args in WORKLOADS:
        extra = maco_flags if key == "maco_class" else []
        cmd = [fovea_bin, "visualize"] + args + extra + ["--steps", str(steps), "--json", "-o", "/tmp/fv.png"]
        results[key] = [fovea_steps_per_second(cmd, env) for _ in range(runs)]
    return {"results": results}


def fmt(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f}" if values else "—"


def tables(fovea: dict, peer: dict, maco_flags: list[str]) -> list[str]:
    ours, theirs = fovea["results"], peer["results"]
    lines = ["| workload | Fovea min / median steps/s | peer min / median steps/s | ratio Fovea / peer time per step (median) |",
             "|---|---:|---:|---:|"]
    for key, label, _ in WORKLOADS:
        f, t = ours.get(key) or [], theirs.get(key) or []
        ratio = f"{statistics.median(t) / statistics.median(f):.2f}" if f and t else "—"
        lines.append(f"| {label} | {fmt(f)} | {fmt(t)} | {ratio} |")
    lines += ["", "`_blocks.2` channel 0 against class 1 (median steps/s; Fovea's pass stops at the deepest layer the "
              "objective reads, lucent always runs the whole network):", "",
              "| side | `_blocks.2` channel 0 | class 1 | `_blocks.2` speed-up |", "|---|---:|---:|---:|"]
    for side, results in (("Fovea", ours), ("lucent", theirs)):
        shallow, deep = results.get("lucent_channel_blocks2") or [], results.get("lucent_class") or []
        if shallow and deep:
            s, d = statistics.median(shallow), statistics.median(deep)
            lines.append(f"| {side} | {s:.2f} | {d:.2f} | {s / d:.2f}x |")
    lines += ["", "MACO: horama evaluates 6 crops per step (sides 0.25-0.30 of the image, resized to 224, noise 0.05; "
              "NAdam, lr 1.0); Fovea's flags for it: " + (f"`{shlex.join(maco_flags)}`." if maco_flags else
                                                          "none (Fovea's default MACO step, so the steps differ in work).")]
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fovea_bin", nargs="?", default=os.path.join(".build", "release", "fovea"),
                   help="Fovea binary (default %(default)s)")
    p.add_argument("--steps", type=int, default=32, help="optimisation steps per run (default %(default)s)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per workload and side in each round (default %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of Fovea and the peer (default %(default)s)")
    p.add_argument("--peer-first", action="store_true", help="run the peer first in odd rounds")
    p.add_argument("--maco-flags", default="", help="extra `fovea visualize` flags for the MACO workload, shell-quoted")
    p.add_argument("--cache", default=os.environ.get("FOVEA_CACHE", os.path.expanduser("~/.cache/fovea")),
                   help="fetch-data.sh cache (default %(default)s); exported as FOVEA_CACHE")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results-synthesis.md"))
    args = p.parse_args()
    if args.steps < 1 or args.runs < 1 or args.rounds < 1:
        p.error("--steps, --runs and --rounds must be >= 1")
    fovea_bin = os.path.abspath(args.fovea_bin)
    check_visualize(fovea_bin)
    cache = os.path.expanduser(args.cache)
    env = dict(os.environ, FOVEA_CACHE=cache)
    maco_flags = shlex.split(args.maco_flags)
    peer_cmd = [sys.executable, os.path.join(HERE, "bench_synthesis_torch.py"), "--steps", str(args.steps),
                "--runs", str(args.runs), "--cache", cache]

    ours, theirs = [], []
    for r in range(args.rounds):
        def fovea_round():
            ours.append(run_fovea(fovea_bin, args.steps, args.runs, maco_flags, env))

        def peer_round():
            theirs.append(run_peer(peer_cmd, f"lucent / horama peer (round {r + 1}/{args.rounds})", env))
        for run in ((peer_round, fovea_round) if (r % 2 == 0) == args.peer_first else (fovea_round, peer_round)):
            run()
    fovea, peer = merge_reports(ours), merge_reports(theirs)

    header = [
        "# Feature visualisation: Fovea against torch-lucent and horama",
        "",
        *measured_lines(),
        f"- peer: {peer.get('peer')} ({peer.get('threads')} threads, roi_align: {peer.get('roi_align')})",
        f"- EfficientNet-Lite0, 224x224, {args.steps} steps per run; {args.runs} runs per workload and side in each of "
        f"{args.rounds} alternating rounds, samples pooled; the peer times its runs after a warm-up run, each Fovea "
        "run is a fresh process (its steps/s excludes the model load)",
        "",
    ]
    text = "\n".join(header + tables(fovea, peer, maco_flags)) + "\n"
    print(text, end="")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
