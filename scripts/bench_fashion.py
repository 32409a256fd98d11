"""The Fashion-MNIST and embedding-space workloads of `make bench`, Fovea against its peers:

- one training epoch of fashion-cnn (Adam, batch 128, cosine schedule): `fovea train --epochs 1`
  vs the same network, optimiser and batches in PyTorch (2 threads), epoch time only;
- the FGSM robustness curve over the 10k test images at 7 epsilons: `fovea robustness` vs the
  same batched attack in PyTorch (batch 100);
- t-SNE of fashion-cnn embeddings reduced to 50 PCA dimensions, 10k points (the test split) and
  70k (all), perplexity 30, 250 + 750 iterations: `fovea tsne` vs openTSNE (FFT, its default)
  and scikit-learn (Barnes-Hut); every map's KL measured by scripts/tsne_kl.py.
Called by bench.py; returns markdown lines."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

EPSILONS = "0,0.05,0.1,0.15,0.2,0.25,0.3"


def fovea(bin_, args, env):
    print("running fovea " + " ".join(args), file=sys.stderr)
    t0 = time.perf_counter()
    proc = subprocess.run([bin_] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"bench_fashion: fovea {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout, time.perf_counter() - t0


def mm(values, fmt="{:.1f}"):
    return f"{fmt.format(min(values))} / {fmt.format(statistics.median(values))}"


def torch_epoch(runs):
    import torch
    from fashion_cnn import FashionCNN, load_split
    torch.set_num_threads(2)
    x, y = load_split("train")
    times = []
    for r in range(runs):
        torch.manual_seed(r)
        net = FashionCNN()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        steps = (len(y) + 127) // 128
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        net.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(y))
        for i in range(0, len(y), 128):
            idx = perm[i:i + 128]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        times.append(time.perf_counter() - t0)
    return times


def torch_robustness(weights, runs):
    import torch
    from fashion_cnn import MEAN, STD, FashionCNN, load_safetensors, load_split
    torch.set_num_threads(2)
    net = FashionCNN()
    net.load_state_dict(load_safetensors(weights))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    x, y = load_split("test")
    pixels = x * STD + MEAN
    eps = [float(e) for e in EPSILONS.split(",")]
    times, accuracy = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        correct = [0] * len(eps)
        for i in range(0, len(y), 100):
            p, t = pixels[i:i + 100], y[i:i + 100]
            for k, e in enumerate(eps):
                if e == 0:
                    adv = p
                else:
                    q = p.clone().requires_grad_(True)
                    torch.nn.functional.cross_entropy(net((q - MEAN) / STD), t, reduction="sum").backward()
                    adv = (p + e * q.grad.sign()).clamp(0, 1)
                with torch.no_grad():
                    correct[k] += int((net((adv - MEAN) / STD).argmax(1) == t).sum())
        times.append(time.perf_counter() - t0)
        accuracy = [c / len(y) for c in correct]
    return times, accuracy


def run(bin_, env, runs=3, tsne_runs=3):
    root = os.path.dirname(HERE)
    work = tempfile.mkdtemp(prefix="fovea-bench-")
    lines = ["## Fashion-MNIST and embedding space", ""]

    # Training epoch.
    fovea_epochs = []
    for r in range(runs):
        out, _ = fovea(bin_, ["train", "--dataset", "fashion-mnist", "--epochs", "1", "--seed", str(r), "--json",
                              "-o", os.path.join(work, "epoch.safetensors")], env)
        fovea_epochs.append(json.loads(out)[0]["seconds"])
    torch_epochs = torch_epoch(runs)
    lines += [f"One training epoch of fashion-cnn on the 60k training images (Adam, batch 128), {runs} runs, seconds:", "",
              "| Fovea min / median s | PyTorch min / median s | ratio (median) | target |", "|---:|---:|---:|---:|",
              f"| {mm(fovea_epochs)} | {mm(torch_epochs)} | {statistics.median(fovea_epochs) / statistics.median(torch_epochs):.2f} | <= 0.6 |", ""]

    # Robustness curve.
    fovea_curve, fovea_acc = [], None
    for _ in range(runs):
        out, _ = fovea(bin_, ["robustness", "fashion-mnist", "--model", "fashion-cnn", "--method", "fgsm",
                              "--epsilons", EPSILONS, "--json"], env)
        data = json.loads(out)
        fovea_curve.append(data["seconds"])
        fovea_acc = data["accuracies"]
    weights = os.path.join(root, "Sources", "Fovea", "Resources", "fashion-cnn.safetensors")
    torch_curve, torch_acc = torch_robustness(weights, runs)
    attacked = 10000 * len(EPSILONS.split(","))
    lines += [f"FGSM robustness curve, fashion-cnn, 10k test images x 7 epsilons ({EPSILONS}), batch 100, {runs} runs:", "",
              "| | Fovea | PyTorch |", "|---|---:|---:|",
              f"| seconds min / median | {mm(fovea_curve)} | {mm(torch_curve)} |",
              f"| attacked images/s (median) | {attacked / statistics.median(fovea_curve):.0f} | {attacked / statistics.median(torch_curve):.0f} |",
              "| accuracy % | " + ", ".join(f"{100 * a:.1f}" for a in fovea_acc) + " | " + ", ".join(f"{100 * a:.1f}" for a in torch_acc) + " |", ""]

    # t-SNE.
    import tsne_kl
    all_emb = os.path.join(work, "all.npy")
    fovea(bin_, ["embed", "fashion-mnist:all", "--model", "fashion-cnn", "-o", all_emb], env)
    fovea(bin_, ["pca", all_emb, "--components", "50", "-o", os.path.join(work, "all50.npy")], env)
    x70 = np.load(os.path.join(work, "all50.npy")).astype(np.float32)
    x10 = x70[60000:]
    np.save(os.path.join(work, "test50.npy"), x10)
    rows = []
    for label, path, x, n_runs, with_sklearn in [("10k", "test50.npy", x10, tsne_runs, True), ("70k", "all50.npy", x70, 1, True)]:
        p = tsne_kl.sparse_p(x.astype(np.float64))
        times, kl, method = [], None, None
        for _ in range(n_runs):
            coords = os.path.join(work, f"coords-{label}.npy")
            out, wall = fovea(bin_, ["tsne", os.path.join(work, path), "--json", "-o", coords], env)
            times.append(wall)
            method = {"barnes-hut": "Barnes-Hut", "fft": "FFT", "exact": "exact"}[json.loads(out)["method"]]
            kl = tsne_kl.kl(p, np.load(coords))
        rows.append((label, f"Fovea ({method})", times, kl))
        import openTSNE
        times = []
        for _ in range(n_runs):
            t0 = time.perf_counter()
            emb = openTSNE.TSNE(perplexity=30, n_iter=750, early_exaggeration_iter=250, initialization="pca",
                                n_jobs=2, random_state=0).fit(x.astype(np.float64))
            times.append(time.perf_counter() - t0)
        rows.append((label, f"openTSNE {openTSNE.__version__} (FFT)", times, tsne_kl.kl(p, np.asarray(emb))))
        if with_sklearn:
            import sklearn
            from sklearn.manifold import TSNE
            t0 = time.perf_counter()
            y = TSNE(perplexity=30, max_iter=1000, init="pca", n_jobs=2, random_state=0).fit_transform(x)
            rows.append((label, f"scikit-learn {sklearn.__version__} (Barnes-Hut)", [time.perf_counter() - t0], tsne_kl.kl(p, y)))
    lines += ["t-SNE of fashion-cnn embeddings (50 PCA dimensions), perplexity 30, 250 + 750 iterations, 2 threads; "
              "wall time of the whole run (Fovea: process start to exit, including loading and writing); "
              "KL by scripts/tsne_kl.py (kNN P, exact Z) for every map:", "",
              "| points | tool | runs | seconds min / median | KL |", "|---|---|---:|---:|---:|"]
    for label, tool, times, kl in rows:
        lines.append(f"| {label} | {tool} | {len(times)} | {mm(times)} | {kl:.4f} |")
    for label, target in [("10k", "1.0"), ("70k", "0.5")]:
        ours = [r for r in rows if r[0] == label and r[1].startswith("Fovea")][0]
        peer = [r for r in rows if r[0] == label and r[1].startswith("openTSNE")][0]
        lines.append(f"\n{label}: Fovea / openTSNE wall-time ratio {statistics.median(ours[2]) / statistics.median(peer[2]):.2f} "
                     f"(target <= {target} at equal or lower KL: {ours[3]:.4f} vs {peer[3]:.4f})")
    lines.append("")
    return lines


if __name__ == "__main__":
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(HERE), ".build", "release", "fovea")
    print("\n".join(run(os.path.abspath(binary), dict(os.environ))))
