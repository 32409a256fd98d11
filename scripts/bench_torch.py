#!/usr/bin/env python3
"""PyTorch CPU peer for `make bench`: times the models Fovea benchmarks.

    python3 scripts/bench_torch.py [--runs 7] [--warmup 3] [--threads 2]

For each model (EfficientNet-Lite0 from scripts/efficientnet_lite0.py, VGG-16
and ResNet-18 from scripts/torch_reference_models.py), in eval mode on one
1x3x224x224 float32 input:

  forward_ms           model(x) under torch.no_grad()
  forward_backward_ms  model(x) with x.requires_grad, then out[0, top1].backward():
                       the gradient of the top-1 logit w.r.t. the input only
                       (parameters have requires_grad=False, as for a saliency map)

Each pass is warmed up `--warmup` times, then timed `--runs` times
(time.perf_counter, milliseconds). Prints one JSON object on stdout:

  {"peer": "pytorch <version>", "threads": 2,
   "results": {"efficientnet-lite0": {"forward_ms": [...], "forward_backward_ms": [...]},
               "vgg16": {...}, "resnet18": {...}}}

EfficientNet-Lite0 uses the ImageNet weights when they are in the cache
(--cache, default $FOVEA_CACHE or ~/.cache/fovea), else random weights: the
timings do not depend on the values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import efficientnet_lite0 as effnet  # noqa: E402
import torch_reference_models as refmodels  # noqa: E402

MODELS = ["efficientnet-lite0", "alexnet", "vgg16", "resnet18", "resnet50", "squeezenet1_1", "mobilenet_v2"]


def build(name: str, cache: str) -> torch.nn.Module:
    if name == "efficientnet-lite0":
        try:
            model = effnet.load_pretrained(cache)
        except FileNotFoundError:
            torch.manual_seed(0)
            model = effnet.EfficientNetLite0()
    elif name == "vgg16":
        model = refmodels.vgg16()
    elif name == "resnet18":
        model = refmodels.resnet18()
    elif name in MODELS:
        from torchvision_import import import_torchvision  # installed by `make bench` (--no-deps, keeping this torch)
        torchvision = import_torchvision()
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None)
    else:
        raise ValueError(name)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def forward(model: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        model(x)


def forward_backward(model: torch.nn.Module, x: torch.Tensor) -> None:
    xg = x.detach().clone().requires_grad_(True)
    out = model(xg)
    top = int(out[0].detach().argmax())
    out[0, top].backward()
    assert xg.grad is not None


def time_pass(fn, model, x, warmup: int, runs: int) -> list[float]:
    for _ in range(warmup):
        fn(model, x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(model, x)
        times.append(round((time.perf_counter() - t0) * 1e3, 3))
    return times


def workloads(cache: str, runs: int) -> dict:
    """Exact 10-NN (cosine) of 10k queries against 60k x 1280 in blocks of 256 (matmul + topk),
    queries/s; EfficientNet-Lite0 pooled features of batches of 16 at 224x224, images/s."""
    g = torch.Generator().manual_seed(11)
    index = torch.nn.functional.normalize(torch.randn(60000, 1280, generator=g), dim=1)
    queries = torch.randn(10000, 1280, generator=g)

    def search():
        q = torch.nn.functional.normalize(queries, dim=1)
        for s in range(0, len(q), 256):
            (1 - q[s:s + 256] @ index.T).topk(10, dim=1, largest=False)

    def rate(fn, items):
        fn()
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            out.append(items / (time.perf_counter() - t0))
        return out

    knn = rate(search, 10000)
    model = build("efficientnet-lite0", cache)
    batch = torch.rand(16, 3, 224, 224) * 2 - 1

    def embed():
        with torch.no_grad():
            model.extract_features(batch) if hasattr(model, "extract_features") else model(batch)
    return {"knn_qps": knn, "embed_images_per_s": rate(embed, 16)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    p.add_argument("--cache", default=effnet.default_cache())
    p.add_argument("--workload-runs", type=int, default=3, help="timed runs of kNN and embedding throughput (0 to skip)")
    args = p.parse_args()
    if args.runs < 1 or args.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            p.error(f"unknown model {n!r} (choose from {', '.join(MODELS)})")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224)

    results = {}
    for name in names:
        model = build(name, os.path.expanduser(args.cache))
        results[name] = {
            "forward_ms": time_pass(forward, model, x, args.warmup, args.runs),
            "forward_backward_ms": time_pass(forward_backward, model, x, args.warmup, args.runs),
        }
        del model

    print(json.dumps({
        "peer": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "results": results,
        "workloads": workloads(os.path.expanduser(args.cache), args.workload_runs) if args.workload_runs > 0 else {},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
