#!/usr/bin/env python3
"""Peak memory of every benched job: Fovea against its peer, each job in a fresh process.

    python3 scripts/bench_memory.py [FOVEA_BIN] [--cache ~/.cache/fovea] [--only SUBSTRING]

The timing benchmarks run many jobs in one long process, where one job's buffers and caches
would count against the next. Here each job of `make bench` runs alone: Fovea's command (the one
a user runs where there is one, else `fovea bench` restricted to the job) and the peer's (the
same computation in PyTorch, Captum, pytorch-grad-cam, lucent or openTSNE, as the timing
scripts run it), one process each, and the peak RSS of each process is read from os.wait4's
rusage. Both include their runtime (the Swift binary and its libraries; the Python interpreter
with torch); the measuring process itself stays small, since a forked child starts with its
parent's RSS as its peak. The jobs are shortened where the peak does not depend on the length (1 timed run,
8 optimisation steps, 2 training steps, 25 L-BFGS iterations, which fill the history of 20):
times in the table are those of the shortened processes, for orientation only; speed is in
the other results files. Writes bench/results-memory.md (part of `make bench`).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench import measure_process, measured_lines  # noqa: E402

MODELS = ["efficientnet-lite0", "alexnet", "vgg16", "resnet18", "resnet50", "squeezenet1_1", "mobilenet_v2"]
METHODS = ["gradient", "gradcam", "occlusion", "integrated-gradients", "scorecam", "pgd-10"]
PY_PRELUDE = f"import sys; sys.path.insert(0, {HERE!r}); import torch; torch.set_num_threads(2)\n"


def measure(cmd: list[str], env: dict) -> tuple[float, float]:
    print(f"bench_memory: {shlex.join(cmd)[:160]}", file=sys.stderr, flush=True)
    return measure_process(cmd, env)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", PY_PRELUDE + code]


def jobs(fovea: str, cache: str, work: str) -> list[tuple[str, list[str], list[str]]]:
    """(label, Fovea command, peer command) for every benched job."""
    photo = os.path.join(cache, "photos", "chelsea.png")
    content, style = os.path.join(work, "content.png"), os.path.join(work, "style.png")
    out = lambda name: os.path.join(work, name)  # noqa: E731
    bench = [fovea, "bench", "--json", "--runs", "1"]
    torch_bench = [sys.executable, os.path.join(HERE, "bench_torch.py"), "--runs", "1", "--warmup", "1", "--cache", cache]
    rows = []
    for m in MODELS:
        rows.append((f"{m} forward and forward+backward, 224x224",
                     bench + ["--models", m, "--attribution-runs", "0", "--workload-runs", "0"],
                     torch_bench + ["--models", m, "--workload-runs", "0"]))
    for method in METHODS:
        rows.append((f"{method}, EfficientNet-Lite0",
                     bench + ["--models", "", "--methods", method, "--attribution-runs", "1", "--workload-runs", "0"],
                     [sys.executable, os.path.join(HERE, "bench_attribution_torch.py"), "--runs", "1",
                      "--methods", method, "--cache", cache]))
    rows.append(("exact 10-NN (10k x 60k x 1280) and EfficientNet-Lite0 embeddings",
                 bench + ["--models", "", "--attribution-runs", "0", "--workload-runs", "1"],
                 torch_bench + ["--models", "", "--workload-runs", "1"]))
    rows.append(("classify one photo, EfficientNet-Lite0", [fovea, "classify", photo],
                 python(f"import efficientnet_lite0 as e\nm = e.load_pretrained({cache!r})\n"
                        f"with torch.no_grad(): print(m(e.preprocess({photo!r})[1]).softmax(1).topk(5))")))
    vgg = out("vgg16.pth")
    rows.append(("VGG-16 gradient saliency with faithfulness, 224x224",
                 [fovea, "saliency", photo, "--model", "vgg16", "--weights", vgg, "--method", "gradient",
                  "-o", out("saliency.png")],
                 python("from torchvision_import import import_torchvision\n"
                        f"m = import_torchvision().models.vgg16(weights=None); m.load_state_dict(torch.load({vgg!r}))\n"
                        "m.eval(); [p.requires_grad_(False) for p in m.parameters()]\n"
                        "x = torch.rand(1, 3, 224, 224, requires_grad=True); y = m(x); y[0, y.argmax()].backward()\n"
                        "with torch.no_grad():\n"
                        "    for curve in range(2):\n"
                        "        for start in range(0, 33, 8): m(torch.rand(min(8, 33 - start), 3, 224, 224)).softmax(1)\n")))
    rows.append(("fashion-cnn training epoch, 60k images",
                 [fovea, "train", "--dataset", "fashion-mnist", "--epochs", "1", "-o", out("epoch.safetensors")],
                 python("import bench_fashion; bench_fashion.torch_epoch(1)")))
    weights = os.path.join(ROOT, "Sources", "Fovea", "Resources", "fashion-cnn.safetensors")
    rows.append(("FGSM robustness curve, 10k images x 7 epsilons",
                 [fovea, "robustness", "fashion-mnist", "--model", "fashion-cnn", "--method", "fgsm",
                  "--epsilons", "0,0.05,0.1,0.15,0.2,0.25,0.3"],
                 python(f"import bench_fashion; bench_fashion.torch_robustness({weights!r}, 1)")))
    for label, points in (("10k", "test50.npy"), ("70k", "all50.npy")):
        rows.append((f"t-SNE, {label} Fashion-MNIST embeddings (50 dimensions)",
                     [fovea, "tsne", out(points), "-o", out("tsne.npy")],
                     python(f"import numpy as np, openTSNE\nx = np.load({out(points)!r}).astype(np.float64)\n"
                            "openTSNE.TSNE(perplexity=30, n_iter=750, early_exaggeration_iter=250, initialization='pca', "
                            "n_jobs=2, random_state=0).fit(x)")))
    style_prelude = (f"import style_torch as st\nonnx = st.vgg16_onnx_path({cache!r})\n"
                     f"c, s = st.load_image({content!r}, 512), st.load_image({style!r}, 512)\n")
    rows.append(("Gatys style transfer, 512x512, 25 L-BFGS iterations (history 20)",
                 [fovea, "style", content, style, "--size", "512", "--steps", "25", "--alpha", "1000", "--history", "20",
                  "-o", out("gatys.png")],
                 python(style_prelude + "st.gatys(c, s, 25, 1000.0, history=20, onnx_path=onnx)")))
    rows.append(("stylize, Johnson network, 512x512",
                 [fovea, "stylize", content, "-o", out("stylized.png")],
                 python(style_prelude + "net = st.TransformerNet().eval()\n"
                        "with torch.no_grad(): net(c * 255).div(255).clamp(0, 1)")))
    rows.append(("adain, encoder + AdaIN + decoder, 512x512",
                 [fovea, "adain", content, style, "--size", "512", "-o", out("adain.png")],
                 python(style_prelude + "vgg, dec = st.load_vgg16(onnx), st.AdaINDecoder().eval()\n"
                        "with torch.no_grad():\n"
                        "    f = lambda x: vgg.features(x, ['relu4_1'])['relu4_1']\n"
                        "    dec(st.adain(f(c), f(s))).clamp(0, 1)")))
    rows.append(("Johnson training, 2 steps of batch 4 at 256x256",
                 [fovea, "train-style", style, "--steps", "2", "--crop", "256", "--batch", "4", "-o", out("net.safetensors")],
                 python("import bench_style\n" + f"bench_style.torch_feed_forward(1, __import__('style_torch').vgg16_onnx_path({cache!r}), "
                        "only='train_step')")))
    lucent = ["--size", "224", "--param", "fft", "--decorrelate", "--transforms", "standard", "--seed", "0", "--steps", "8"]
    rows.append(("feature visualisation, class logit (lucent), 8 steps",
                 [fovea, "visualize", "--class", "1"] + lucent + ["-o", out("vis.png")],
                 [sys.executable, os.path.join(HERE, "bench_synthesis_torch.py"), "--only", "lucent_class", "--runs", "1",
                  "--steps", "8", "--cache", cache]))
    return rows


def prepare(fovea: str, cache: str, work: str, env: dict, needed: str) -> None:
    """The inputs the jobs read: 512-pixel content and style PNGs, 50-dimensional Fashion-MNIST
    embeddings, and a seeded torchvision VGG-16 state dict (both sides load the same file)."""
    import numpy as np
    import style_torch as st
    st.save_image(st.load_image(os.path.join(cache, "photos", "chelsea.png"), 512), os.path.join(work, "content.png"))
    st.save_image(st.load_image(os.path.join(cache, "styles", "scream.jpg"), 512), os.path.join(work, "style.png"))
    if "t-SNE" in needed:
        subprocess.run([fovea, "embed", "fashion-mnist:all", "--model", "fashion-cnn", "-o", os.path.join(work, "all.npy")],
                       check=True, capture_output=True, env=env)
        subprocess.run([fovea, "pca", os.path.join(work, "all.npy"), "--components", "50", "-o", os.path.join(work, "all50.npy")],
                       check=True, capture_output=True, env=env)
        np.save(os.path.join(work, "test50.npy"), np.load(os.path.join(work, "all50.npy"))[60000:])
    if "VGG-16" in needed:
        subprocess.run(python("from torchvision_import import import_torchvision\ntorch.manual_seed(0)\n"
                              f"torch.save(import_torchvision().models.vgg16(weights=None).state_dict(), "
                              f"{os.path.join(work, 'vgg16.pth')!r})"), check=True, env=env)


def updated(path: str, rows: list[str], labels: list[str]) -> list[str]:
    """The lines of results file `path` with the rows of `labels` replaced by `rows`, and a line
    saying when they were re-measured (the file's other rows keep its date)."""
    with open(path, encoding="utf-8") as f:
        old = f.read().splitlines()
    by_label = dict(zip(labels, rows))
    missing = [label for label in labels if not any(line.startswith(f"| {label} |") for line in old)]
    if missing:
        sys.exit(f"bench_memory.py: --update: {path} has no row for {missing}; run without --only")
    when = measured_lines()[0].removeprefix("- date: ")
    note = f"- re-measured {when} (`--only ... --update`): " + "; ".join(labels)
    out = []
    for line in old:
        label = next((k for k in labels if line.startswith(f"| {k} |")), None)
        if label:
            out.append(by_label[label])
        elif line.startswith("- re-measured ") and all(k in line for k in labels):
            continue
        else:
            out.append(line)
            if line.startswith("- host: "):
                out.append(note)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fovea_bin", nargs="?", default=os.path.join(ROOT, ".build", "release", "fovea"))
    p.add_argument("--cache", default=os.environ.get("FOVEA_CACHE", os.path.expanduser("~/.cache/fovea")))
    p.add_argument("--only", help="run only the jobs whose label contains this text")
    p.add_argument("--update", action="store_true",
                   help="with --only: replace those jobs' rows in --out, keep the others, and list them as re-measured")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results-memory.md"))
    args = p.parse_args()
    fovea, cache = os.path.abspath(args.fovea_bin), os.path.expanduser(args.cache)
    if not os.access(fovea, os.X_OK):
        sys.exit(f"bench_memory.py: Fovea binary {args.fovea_bin} not found; build it first (swift build -c release)")
    env = dict(os.environ, FOVEA_CACHE=cache)
    with tempfile.TemporaryDirectory(prefix="fovea-bench-memory-") as work:
        selected = [j for j in jobs(fovea, cache, work) if not args.only or args.only in j[0]]
        if not selected:
            sys.exit(f"bench_memory.py: --only {args.only!r} matches no job")
        # In a child: the peak RSS of a process forked from this one starts at this one's RSS
        # (it is kept across exec), so this process must stay small (no numpy, no torch).
        needed = " ".join(label for label, _, _ in selected)
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {HERE!r}); import bench_memory; "
                        f"bench_memory.prepare({fovea!r}, {cache!r}, {work!r}, dict(__import__('os').environ), {needed!r})"],
                       check=True, env=env)
        rows = []
        for label, ours, theirs in selected:
            (f_mib, f_s), (p_mib, p_s) = measure(ours, env), measure(theirs, env)
            rows.append(f"| {label} | {f_mib:.0f} | {p_mib:.0f} | {f_mib / p_mib:.2f} | {f_s:.1f} / {p_s:.1f} |")
            print(rows[-1], file=sys.stderr, flush=True)
    lines = ["# Peak memory of every benched job: Fovea against its peer", "", *measured_lines(),
             "- each job alone in a fresh process, peak RSS from `wait4`; Fovea and PyTorch on 2 threads; "
             "ratio = Fovea / peer (< 1: Fovea smaller). Made by `scripts/bench_memory.py` (part of `make bench`).", "",
             "| job | Fovea peak RSS MiB | peer peak RSS MiB | ratio | seconds Fovea / peer (shortened jobs) |",
             "|---|---:|---:|---:|---:|", *rows]
    if args.only and args.update:
        lines = updated(args.out, rows, [label for label, _, _ in selected])
    text = "\n".join(lines) + "\n"
    if not args.only or args.update:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
