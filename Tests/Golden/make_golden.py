#!/usr/bin/env python3
"""Regenerate the PyTorch golden files that Fovea's Swift tests compare against.

    python3 Tests/Golden/make_golden.py --cache ~/.cache/fovea

(after `scripts/fetch-data.sh ~/.cache/fovea`). Writes into
Tests/Golden/efficientnet_lite0/ (next to this script):

  <name>_input.png          224x224 uint8 RGB: the centre crop after Pillow's
                            bicubic resize, exactly what the network sees
                            before normalisation (x - 127) / 128
  <name>_logits.npy         float32 [1000], logits of that input
  <name>_grad_top.npy       float32 [1,3,224,224], d(top-1 logit)/d(normalised input)
  chelsea_blocks10.npy      float32, forward-hook output of `_blocks.10`
  chelsea_blocks14_grad.npy float32, d(top-1 logit)/d(output of `_blocks.14`)
  chelsea_gradcam_*.npy     float32, Grad-CAM of the top-1 logit at `_blocks.15` and `_conv_head`
  chelsea_cam.npy           float32, CAM of the top-1 class
  golden.json               top-5 per photo, versions, weights sha256, notes

for name in chelsea, coffee, astronaut. The model runs in float32 and eval
mode (BatchNorm running statistics, no dropout), single-threaded so that the
numbers do not depend on the host's core count. The preprocessing and network
are defined in scripts/efficientnet_lite0.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

import numpy as np  # noqa: E402
import PIL  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import efficientnet_lite0 as effnet  # noqa: E402

PHOTOS = ["chelsea", "coffee", "astronaut"]
OUT_DIR = os.path.join(HERE, "efficientnet_lite0")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_npy(name: str, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array, dtype="<f4")
    np.save(os.path.join(OUT_DIR, name), array, allow_pickle=False)


def float64_reference(model, x, top1, grad32):
    """How far float32 PyTorch itself is from float64, and how many ReLU6 inputs sit within
    1e-6 of a kink (0 or 6) in float64: there float32 rounding alone can flip a unit's
    derivative, which moves the input gradient by a visible amount."""
    import copy
    m64 = copy.deepcopy(model).double()
    near = [0]
    def count(_m, _i, out):
        v = out.detach()
        near[0] += int(((v.abs() < 1e-6) | ((v - 6).abs() < 1e-6)).sum())
    hooks = [mod.register_forward_hook(count) for path, mod in m64.named_modules()
             if path.endswith("_bn0") or path.endswith("_bn1")]
    x64 = x.double().clone().requires_grad_(True)
    m64(x64)[0, top1].backward()
    for h in hooks:
        h.remove()
    g64 = x64.grad.detach()
    rel = float((grad32.double() - g64).norm() / g64.norm())
    return {"grad_top_float32_vs_float64_rel_l2": rel, "relu6_inputs_within_1e-6_of_a_kink": near[0]}


def activation_and_gradient(model, x, target, layer):
    """The forward-hook output A of `layer` and dS/dA for S the target's logit."""
    kept = {}
    def hook(_m, _i, out):
        kept["a"] = out
        out.register_hook(lambda g: kept.__setitem__("g", g))
    h = model.get_submodule(layer).register_forward_hook(hook)
    x = x.detach().clone().requires_grad_(True)
    model(x)[0, target].backward()
    h.remove()
    return kept["a"].detach(), kept["g"]


def grad_cam(model, x, target, layer):
    """Grad-CAM (Selvaraju et al.): alpha_k = spatial mean of dS/dA_k, map = ReLU(sum_k alpha_k A_k)."""
    a, g = activation_and_gradient(model, x, target, layer)
    alpha = g.mean(dim=(2, 3), keepdim=True)
    return torch.relu((alpha * a).sum(dim=1))[0].detach()


def cam(model, x, target):
    """CAM (Zhou et al.): M = sum_k w_k f_k over the features entering global average pooling."""
    kept = {}
    h = model._avg_pooling.register_forward_pre_hook(lambda _m, inp: kept.__setitem__("f", inp[0]))
    with torch.no_grad():
        model(x)
    h.remove()
    f = kept["f"][0]                                   # [K, h, w]
    w = model._fc.weight[target]                       # [K]
    return torch.einsum("k,khw->hw", w, f).detach()


def faithfulness(model, x, saliency, target, steps=32):
    """Deletion / insertion AUC (Petsiuk et al.): rank pixels by the map upsampled bilinearly
    (align_corners=False) to the input size, most salient first (ties by index); replace the top
    fraction f = i/steps by a Gaussian blur of the input (sigma 5, 31 taps, reflect padding,
    separable), or insert them into it; AUC of the target probability by the trapezoid rule."""
    c, h, w = x.shape[1:]
    taps = torch.exp(-torch.arange(-15, 16, dtype=torch.float32) ** 2 / (2 * 25.0))
    taps = taps / taps.sum()
    row = taps.view(1, 1, 1, 31).repeat(c, 1, 1, 1)
    blurred = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (15, 15, 0, 0), mode="reflect"), row, groups=c)
    blurred = torch.nn.functional.conv2d(torch.nn.functional.pad(blurred, (0, 0, 15, 15), mode="reflect"),
                                         row.view(c, 1, 31, 1), groups=c)
    ranked = torch.nn.functional.interpolate(saliency[None, None], size=(h, w), mode="bilinear",
                                             align_corners=False).flatten()
    order = sorted(range(h * w), key=lambda i: (-float(ranked[i]), i))
    order = torch.tensor(order)
    def curve(first, rest):
        probs = []
        for i in range(steps + 1):
            k = int(round(i / steps * h * w))
            img = rest.clone().view(c, h * w)
            img[:, order[:k]] = first.view(c, h * w)[:, order[:k]]
            with torch.no_grad():
                probs.append(float(torch.softmax(model(img.view(1, c, h, w)), 1)[0, target]))
        return probs
    def auc(y):
        return sum((a + b) / 2 for a, b in zip(y, y[1:])) / (len(y) - 1)
    return auc(curve(blurred, x)), auc(curve(x, blurred))


class GuidedReLU6(torch.autograd.Function):
    """ReLU6 whose backward passes only positive gradients where 0 < x < 6 (guided backprop)."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(0, 6)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.clamp(min=0) * ((x > 0) & (x < 6)).to(g.dtype)


def guided_backprop(model, x, target):
    """Guided backprop (Springenberg et al.): the network's F.relu6 swapped for GuidedReLU6.
    (Captum's GuidedBackprop only hooks nn.ReLU modules, and this network calls F.relu6.)"""
    original = effnet.F.relu6
    effnet.F.relu6 = GuidedReLU6.apply
    try:
        x = x.detach().clone().requires_grad_(True)
        model(x)[0, target].backward()
        return x.grad.detach()
    finally:
        effnet.F.relu6 = original


def occlusion_grid(model, x, target, window=32, stride=16, value=0.0):
    """Target probability with a window x window patch of `value` at each stride position."""
    _, c, h, w = x.shape
    rows, cols = (h - window) // stride + 1, (w - window) // stride + 1
    out = torch.zeros(rows, cols)
    with torch.no_grad():
        for i in range(rows):
            for j in range(cols):
                img = x.clone()
                img[:, :, i * stride:i * stride + window, j * stride:j * stride + window] = value
                out[i, j] = torch.softmax(model(img), 1)[0, target]
    return out


def grad_cam_plus_plus(model, x, target, layer):
    """Grad-CAM++ as pytorch-grad-cam computes it: a = g^2 / (2 g^2 + sum(A) g^3), 0 where g = 0;
    w_k = sum a * relu(g); map = ReLU(sum_k w_k A_k)."""
    a, g = activation_and_gradient(model, x, target, layer)
    a, g = a[0], g[0]
    g2, g3 = g ** 2, g ** 3
    alpha = g2 / (2 * g2 + a.sum(dim=(1, 2), keepdim=True) * g3 + 1e-7)
    alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
    weights = (alpha * torch.relu(g)).sum(dim=(1, 2))
    return torch.relu((weights[:, None, None] * a).sum(0))


def score_cam(model, x, target, layer):
    """Score-CAM: each channel upsampled (bilinear) and min-max scaled masks the input; scores =
    target probabilities; w = softmax(scores); map = ReLU(sum_k w_k A_k)."""
    kept = {}
    h = model.get_submodule(layer).register_forward_hook(lambda _m, _i, o: kept.__setitem__("a", o.detach()))
    with torch.no_grad():
        model(x)
    h.remove()
    a = kept["a"][0]
    masks = torch.nn.functional.interpolate(a[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)
    lo = masks.amin(dim=(2, 3), keepdim=True)
    hi = masks.amax(dim=(2, 3), keepdim=True)
    masks = torch.where(hi > lo, (masks - lo) / (hi - lo), torch.zeros_like(masks))
    scores = []
    with torch.no_grad():
        for k in range(0, a.shape[0], 32):
            scores.append(torch.softmax(model(x * masks[k:k + 32]), 1)[:, target])
    weights = torch.softmax(torch.cat(scores), 0)
    return torch.relu((weights[:, None, None] * a).sum(0))


def fgsm_sign(model, crop):
    """Sign of d CE(logits, top-1) / d pixels for pixels p in [0, 1] with x = (255 p - 127) / 128,
    as uint8: 0 negative, 2 positive, 1 where |g| < 1e-3 max|g| (float noise can flip those)."""
    p = torch.tensor(crop, dtype=torch.float32).permute(2, 0, 1)[None] / 255
    p.requires_grad_(True)
    logits = model((p * 255 - 127) / 128)
    loss = torch.nn.functional.cross_entropy(logits, logits.argmax(1))
    loss.backward()
    g = p.grad.detach()
    sign = torch.where(g > 0, 2, 0).to(torch.uint8)
    sign[g.abs() < 1e-3 * g.abs().max()] = 1
    return sign.numpy()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", default=effnet.default_cache(), help="fetch-data.sh cache dir (default %(default)s)")
    args = p.parse_args()
    cache = os.path.expanduser(args.cache)

    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)

    weights = os.path.join(cache, "models", effnet.WEIGHTS_FILE)
    model = effnet.load_pretrained(weights=weights)
    for param in model.parameters():
        param.requires_grad_(False)
    labels = effnet.load_labels(cache)

    golden: dict = {
        "model": "efficientnet-lite0",
        "weights": effnet.WEIGHTS_FILE,
        "weights_sha256": sha256_file(weights),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "dtype": "float32",
        "threads": 1,
        "mode": "eval (BatchNorm running stats, dropout off)",
        "preprocess": (
            "RGB; side = round_half_even(min(w,h) * 0.875); left = (w - side) // 2; "
            "top = (h - side) // 2; crop (left, top, left+side, top+side); "
            "Pillow BICUBIC resize to 224x224 (uint8); x = (pixel - 127) / 128, NCHW"
        ),
        "files": {
            "<name>_input.png": "224x224 uint8 RGB after resize, before normalisation",
            "<name>_logits.npy": "float32 [1000]",
            "<name>_grad_top.npy": "float32 [1,3,224,224], gradient of the top-1 logit w.r.t. the normalised input",
            "chelsea_blocks10.npy": "float32, output of model._blocks[10] (forward hook)",
            "chelsea_blocks14_grad.npy": "float32, gradient of the top-1 logit w.r.t. the output of model._blocks[14]",
            "chelsea_gradcam_<layer>.npy": "float32 [h, w], Grad-CAM of the top-1 logit at _blocks.15 and _conv_head",
            "chelsea_cam.npy": "float32 [7, 7], CAM of the top-1 class over the features entering _avg_pooling",
            "chelsea_occlusion_w32_s16.npy": "float32 [13, 13], top-1 probability with a 32x32 zero patch every 16 px",
            "chelsea_gradcampp__blocks_15.npy": "float32 [7, 7], Grad-CAM++ (pytorch-grad-cam's formula) at _blocks.15",
            "chelsea_scorecam__blocks_15.npy": "float32 [7, 7], Score-CAM at _blocks.15",
            "astronaut_fgsm_sign.npy": "uint8 [1,3,224,224], sign of d CE(logits, top-1)/d pixels (0..1): 0 -, 2 +, 1 below 1e-3 of the max",
            "astronaut_guided_backprop.npy": "float32 [1,3,224,224], guided-backprop input gradient of the top-1 logit",
            "astronaut_integrated_gradients.npy": "float32 [1,3,224,224], Captum IntegratedGradients, zero baseline, 50 Gauss-Legendre steps",
        },
        "photos": {},
    }

    for name in PHOTOS:
        path = os.path.join(cache, "photos", f"{name}.png")
        with Image.open(path) as im:
            size = list(im.size)
        pixels, x = effnet.preprocess(path)
        Image.fromarray(pixels, "RGB").save(os.path.join(OUT_DIR, f"{name}_input.png"))

        captured = {}
        hook = model._blocks[10].register_forward_hook(lambda m, i, o: captured.__setitem__("blocks10", o.detach().clone()))
        # The gradient flowing into `_blocks.14`'s output (a full-backward view of that layer).
        def keep_blocks14_grad(_m, _i, out):
            out.register_hook(lambda g: captured.__setitem__("blocks14_grad", g.detach().clone()))
        hook14 = model._blocks[14].register_forward_hook(keep_blocks14_grad)
        x = x.clone().requires_grad_(True)
        logits = model(x)
        hook.remove()
        hook14.remove()
        probs = torch.softmax(logits.detach(), dim=1)[0]
        top_p, top_i = probs.topk(5)
        top1 = int(top_i[0])
        save_npy(f"{name}_logits.npy", logits.detach()[0].numpy())

        entry = {
            "source": f"photos/{name}.png",
            "source_size_wh": size,
            "crop_box_ltrb": list(effnet.center_crop_box(*size)),
            "top5_indices": [int(i) for i in top_i],
            "top5_probabilities": [round(float(v), 6) for v in top_p],
            "top5_labels": [labels[int(i)] for i in top_i],
            "top1_logit": float(logits.detach()[0, top1]),
        }
        logits[0, top1].backward()
        grad = x.grad.detach()
        save_npy(f"{name}_grad_top.npy", grad.numpy())
        entry["grad_top_abs_max"] = float(grad.abs().max())
        entry.update(float64_reference(model, x.detach(), top1, grad))
        if name == "astronaut":
            np.save(os.path.join(OUT_DIR, "astronaut_fgsm_sign.npy"), fgsm_sign(model, pixels), allow_pickle=False)
            save_npy("astronaut_guided_backprop.npy", guided_backprop(model, x, top1).numpy())
            from captum.attr import IntegratedGradients
            ig = IntegratedGradients(model)
            attr, delta = ig.attribute(x.detach(), baselines=torch.zeros_like(x), target=top1, n_steps=50,
                                       method="gausslegendre", internal_batch_size=10,
                                       return_convergence_delta=True)
            save_npy("astronaut_integrated_gradients.npy", attr.detach().numpy())
            entry["integrated_gradients_captum_delta"] = float(delta)
        if name == "chelsea":
            blocks10 = captured["blocks10"]
            save_npy("chelsea_blocks10.npy", blocks10.numpy())
            save_npy("chelsea_blocks14_grad.npy", captured["blocks14_grad"].numpy())
            for layer in ("_blocks.15", "_conv_head"):
                save_npy(f"chelsea_gradcam_{layer.replace('.', '_')}.npy", grad_cam(model, x, top1, layer).numpy())
            save_npy("chelsea_cam.npy", cam(model, x.detach(), top1).numpy())
            save_npy("chelsea_occlusion_w32_s16.npy", occlusion_grid(model, x.detach(), top1).numpy())
            save_npy("chelsea_gradcampp__blocks_15.npy", grad_cam_plus_plus(model, x, top1, "_blocks.15").numpy())
            save_npy("chelsea_scorecam__blocks_15.npy", score_cam(model, x.detach(), top1, "_blocks.15").numpy())
            deletion, insertion = faithfulness(model, x.detach(), grad_cam(model, x, top1, "_blocks.15"), top1)
            entry["gradcam_blocks15_blur_deletion_auc"] = deletion
            entry["gradcam_blocks15_blur_insertion_auc"] = insertion
            entry["blocks10_shape"] = list(blocks10.shape)
        golden["photos"][name] = entry

    with open(os.path.join(OUT_DIR, "golden.json"), "w") as f:
        json.dump(golden, f, indent=2)
        f.write("\n")

    for name in PHOTOS:
        e = golden["photos"][name]
        top3 = ", ".join(f"{i} {l.split(',')[0]} {p:.3f}" for i, l, p in
                         zip(e["top5_indices"][:3], e["top5_labels"][:3], e["top5_probabilities"][:3]))
        print(f"{name}: {top3}")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print(f"wrote {OUT_DIR} ({total / 1e3:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
