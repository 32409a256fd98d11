#!/usr/bin/env python3
"""PyTorch peers of `fovea visualize`: feature-visualisation steps per second on EfficientNet-Lite0.

    python3 scripts/bench_synthesis_torch.py [--steps 32] [--runs 3] [--cache ~/.cache/fovea] [--only NAME,...]

Times whole optimisations (one warm-up run, then --runs runs of --steps steps each) and reports
steps / second per run. torch runs with 2 threads; the model is in eval mode, its parameters frozen.

torch-lucent 0.1.8, `render.render_vis(..., thresholds=(steps,))`:
  - `param.image(224, fft=True, decorrelate=True)`, Adam lr 0.05, lucent's standard transforms
    (pad 12 constant 0.5, jitter 8, scale 0.90..1.10, rotate -10..10 degrees, jitter 4), no
    upsampling (fixed_image_size=None). lucent's jitter translates (kornia) without cropping and
    a scale below 1 is padded back, so the network sees 248x248 up to 273x273.
  - preprocess=False: instead of lucent's torchvision ImageNet normalisation, EfficientNet-Lite0's
    own (x * 255 - 127) / 128 is the last transform.
  - lucent names layers by joining module paths with "_": `_blocks_4`, `_blocks_2`, `_fc`
    (sublayers `_blocks_4__expand_conv`). Objectives: `channel("_blocks_4", 0)`,
    `channel("_blocks_2", 0)`, and `channel("_fc", 1)`, the goldfish logit.
horama 0.3.0, `maco(objective, total_steps=steps, image_size=224, model_input_size=224,
  values_range=(-127/128, 1), device="cpu")`, the objective the mean class-1 logit of the crops.
  Its defaults otherwise, which the Fovea side has to match:
  - the phase starts as N(0, 1); NAdam on it, learning rate 1.0; image = sigmoid(recorrelate(
    standardize(irfft2(magnitude * exp(i * standardize(phase)))))) scaled to values_range, where
    standardize takes the mean and std of the whole tensor (all channels at once);
  - 6 crops per step; box side = U(0, 1) * (0.25 - 0.20) + 0.25 of the image side, so 0.25..0.30
    (box_size=(0.20, 0.25), but horama adds the upper bound); box centre 0.5 + 0.15 * N(0, 1) per
    axis (boxes may leave the image); roi_align to 448x448 (aligned=False, adaptive sampling),
    then bicubic antialiased resize (align_corners=True) to 224x224;
  - noise 0.05: each crop += 0.05 * N(0, 1) + 0.05 * (U(0, 1) - 0.5);
  - per step it also accumulates |d loss / d image| (its transparency map).
  values_range is EfficientNet-Lite0's input range instead of horama's (-2.5, 2.5) (no effect on
  speed). horama downloads its ImageNet magnitude spectrum at run time; with no network, this
  script writes one made from $FOVEA_CACHE/photos (the mean |rfft2| of each photo's centre crop,
  224x224, in horama's decorrelated colour space) and points horama.maco_fv at it.

torchvision from PyPI is a CUDA build whose C++ ops do not load with the CPU torch
(scripts/torchvision_import.py makes it import all the same); then horama's roi_align is `roi_align_one_sample` below: the
same values from one grid_sample, as every horama box is narrower than the 448 output (one sample
per bin). torchvision's own pure-PyTorch fallback would allocate a [6, 3, 448, 448, 224, 224] tensor.
The JSON's "roi_align" says which one ran.

Prints {"peer", "threads", "steps", "roi_align", "results": {name: [steps/s, ...]}}.
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import efficientnet_lite0 as effnet  # noqa: E402
import torchvision_import  # noqa: E402


def import_torchvision() -> str:
    """Imports torchvision; says which roi_align horama will run."""
    torchvision_import.import_torchvision()
    import torchvision.extension
    return "torchvision C++ op" if torchvision.extension._has_ops() else "grid_sample (no torchvision C++ ops)"


def roi_align_one_sample(image, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """torchvision.ops.roi_align (aligned=False, adaptive sampling) for boxes at most output_size
    wide, where each bin takes one bilinear sample at its centre: coordinates clamped into the
    image, samples more than one pixel outside it zero."""
    assert spatial_scale == 1.0 and sampling_ratio <= 0 and not aligned
    _, _, h, w = image.shape
    out_h, out_w = output_size
    index, x0, y0, x1, y1 = boxes.unbind(1)
    bin_w, bin_h = (x1 - x0).clamp(min=1) / out_w, (y1 - y0).clamp(min=1) / out_h
    assert bool((bin_w <= 1).all() and (bin_h <= 1).all()), "a box wider than the output needs more samples"
    xs = x0[:, None] + (torch.arange(out_w) + 0.5) * bin_w[:, None]  # K x out_w, pixel i at i
    ys = y0[:, None] + (torch.arange(out_h) + 0.5) * bin_h[:, None]  # K x out_h
    grid = torch.stack(torch.broadcast_tensors(xs[:, None, :] / (w - 1) * 2 - 1,
                                               ys[:, :, None] / (h - 1) * 2 - 1), -1)
    crops = torch.nn.functional.grid_sample(image[index.long()], grid, mode="bilinear",
                                            padding_mode="border", align_corners=True)
    inside = ((ys >= -1) & (ys <= h))[:, :, None] & ((xs >= -1) & (xs <= w))[:, None, :]
    return crops * inside[:, None]


def photo_spectrum(photos_dir: str, size: int) -> np.ndarray:
    """Mean |rfft2| of the photos' centre crops in horama's decorrelated colours: 3 x size x size//2+1."""
    from PIL import Image
    from horama.common import get_color_correlation_svd_sqrt

    to_decorrelated = torch.linalg.inv(get_color_correlation_svd_sqrt("cpu"))
    paths = sorted(glob.glob(os.path.join(photos_dir, "*.png")) + glob.glob(os.path.join(photos_dir, "*.jpg")))
    if not paths:
        raise FileNotFoundError(f"no photos in {photos_dir}; run scripts/fetch-data.sh first")
    total = 0
    for path in paths:
        with Image.open(path) as im:
            img = im.convert("RGB")
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
        rgb = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255)  # H x W x 3
        decorrelated = (rgb @ to_decorrelated).permute(2, 0, 1)
        total = total + torch.fft.rfft2(decorrelated).abs()
    return (total / len(paths)).numpy()


def steps_per_second(run, steps: int, runs: int) -> list[float]:
    run()  # warm-up
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        rates.append(steps / (time.perf_counter() - start))
    return rates


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--cache", default=effnet.default_cache())
    p.add_argument("--only", help="comma-separated workloads to time (default: all four)")
    args = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    np.random.seed(0)
    cache = os.path.expanduser(args.cache)
    roi_align = import_torchvision()
    import horama
    import horama.common
    import horama.maco_fv
    if not roi_align.startswith("torchvision"):
        horama.common.roi_align = roi_align_one_sample
    from lucent.optvis import objectives, param, render, transform

    model = effnet.load_pretrained(cache).eval()
    for weight in model.parameters():
        weight.requires_grad_(False)

    def lucent(objective):
        def run():
            render.render_vis(
                model, objective,
                param_f=lambda: param.image(224, fft=True, decorrelate=True),
                optimizer=lambda params: torch.optim.Adam(params, lr=0.05),
                transforms=transform.standard_transforms + [lambda x: (x * 255 - effnet.MEAN) / effnet.STD],
                thresholds=(args.steps,), preprocess=False, progress=False, show_image=False,
                fixed_image_size=None)
            for module in model.modules():  # render_vis leaves its hooks on every module
                module._forward_hooks.clear()
        return run

    spectrum = os.path.join(tempfile.mkdtemp(), "spectrum_decorrelated.npy")
    np.save(spectrum, photo_spectrum(os.path.join(cache, "photos"), 224))
    horama.maco_fv.MACO_SPECTRUM_FILENAME = spectrum
    horama.maco_fv.tqdm = lambda iterable, **_: iterable  # no progress bar

    def maco():
        horama.maco(lambda crops: model(crops)[:, 1].mean(), total_steps=args.steps, image_size=224,
                    model_input_size=224, values_range=(-effnet.MEAN / effnet.STD, 1.0), device="cpu")

    workloads = {
        "lucent_channel_blocks4": lucent(objectives.channel("_blocks_4", 0)),
        "lucent_class": lucent(objectives.channel("_fc", 1)),
        "lucent_channel_blocks2": lucent(objectives.channel("_blocks_2", 0)),
        "maco_class": maco,
    }
    if args.only:
        unknown = set(args.only.split(",")) - set(workloads)
        if unknown:
            p.error(f"--only: unknown workloads {sorted(unknown)}; choose from {list(workloads)}")
        workloads = {name: run for name, run in workloads.items() if name in args.only.split(",")}
    results = {}
    for name, run in workloads.items():
        results[name] = steps_per_second(run, args.steps, args.runs)
        print(f"{name}: " + ", ".join(f"{r:.2f}" for r in results[name]) + " steps/s", file=sys.stderr)
    print(json.dumps({"peer": "torch-lucent 0.1.8 / horama 0.3.0", "threads": torch.get_num_threads(),
                      "steps": args.steps, "roi_align": roi_align, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
