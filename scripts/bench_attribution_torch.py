#!/usr/bin/env python3
"""PyTorch peers of `fovea bench`'s attribution timings, on EfficientNet-Lite0 at 224x224.

    python3 scripts/bench_attribution_torch.py [--runs 3] [--cache ~/.cache/fovea]

Per image, same settings as Fovea: Captum Saliency (gradient), pytorch-grad-cam GradCAM at
_blocks.15, Captum Occlusion (window 32, stride 16, zero baseline, 16 perturbations per pass),
Captum IntegratedGradients (50 steps, zero baseline, internal batch 10), pytorch-grad-cam
ScoreCAM at _blocks.15 (batch 16). Prints JSON {"peer", "threads", "attribution": {name: [ms]},
"peakRSSMiB"}, and PGD (10 steps, eps 2/255) in plain PyTorch; torch runs with 2 threads and the model's parameters frozen.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import efficientnet_lite0 as effnet  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--cache", default=effnet.default_cache())
    p.add_argument("--methods", help="comma-separated subset of gradient,gradcam,occlusion,integrated-gradients,"
                                     "scorecam,pgd-10 (default: all)")
    args = p.parse_args()
    torch.set_num_threads(2)
    from captum.attr import IntegratedGradients, Occlusion, Saliency
    from torchvision_import import import_torchvision
    import_torchvision()                    # pytorch-grad-cam imports torchvision's transforms
    from pytorch_grad_cam import GradCAM, ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = effnet.load_pretrained(os.path.expanduser(args.cache)).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    _, x = effnet.preprocess(os.path.join(os.path.expanduser(args.cache), "photos", "chelsea.png"))
    with torch.no_grad():
        target = int(model(x).argmax())
    layer = [model._blocks[15]]
    targets = [ClassifierOutputTarget(target)]
    gradcam = GradCAM(model=model, target_layers=layer)
    scorecam = ScoreCAM(model=model, target_layers=layer)
    scorecam.batch_size = 16
    methods = {
        "gradient": lambda: Saliency(model).attribute(x.clone().requires_grad_(True), target=target, abs=True),
        # Parameters are frozen, so the input carries the graph (as it does in Fovea).
        "gradcam": lambda: gradcam(input_tensor=x.clone().requires_grad_(True), targets=targets),
        "occlusion": lambda: Occlusion(model).attribute(x, target=target, sliding_window_shapes=(3, 32, 32),
                                                        strides=(3, 16, 16), baselines=0, perturbations_per_eval=16),
        "integrated-gradients": lambda: IntegratedGradients(model).attribute(
            x, baselines=torch.zeros_like(x), target=target, n_steps=50, internal_batch_size=10),
        "scorecam": lambda: scorecam(input_tensor=x, targets=targets),
    }
    pixels = ((x * 128 + 127) / 255).detach()

    def pgd(steps=10, eps=2 / 255):
        """PGD as Fovea runs it: random start, 2.5 eps / steps sign steps on the cross-entropy of
        the clean top-1 class, projection onto the eps ball and [0, 1]."""
        label = torch.tensor([target])
        step = 2.5 * eps / steps
        p = (pixels + torch.empty_like(pixels).uniform_(-eps, eps)).clamp(0, 1)
        p = torch.min(torch.max(p, pixels - eps), pixels + eps)
        for _ in range(steps):
            p = p.detach().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model((p * 255 - 127) / 128), label)
            (g,) = torch.autograd.grad(loss, p)
            p = (p + step * g.sign()).clamp(0, 1)
            p = torch.min(torch.max(p, pixels - eps), pixels + eps)
        return p

    methods["pgd-10"] = pgd
    chosen = args.methods.split(",") if args.methods else list(methods)
    unknown = [m for m in chosen if m not in methods]
    if unknown:
        p.error(f"--methods: unknown method {unknown[0]} (one of {', '.join(methods)})")
    timings = {}
    for name, run in ((n, methods[n]) for n in chosen):
        run()  # warm-up
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1000)
        timings[name] = times
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peer": f"captum + pytorch-grad-cam on torch {torch.__version__}", "threads": torch.get_num_threads(),
                      "attribution": timings, "peakRSSMiB": peak}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
