#!/usr/bin/env python3
"""Regenerate the PyTorch golden files that Fovea's Swift tests compare against.

    python3 Tests/Golden/make_golden.py --cache ~/.cache/fovea

(after `scripts/fetch-data.sh ~/.cache/fovea`). Writes into
Tests/Golden/efficientnet_lite0/ (next to this script):

  <name>_input.png          224x224 uint8 RGB: the centre crop after Pillow's
                            bicubic resize, exactly what the network sees
                            before normalisation (x - 127) / 128
  <name>_logits.npy         float32 [1000], logits of that input
  chelsea_grad_top.npy      float32 [1,3,224,224], d(top-1 logit)/d(normalised input)
  chelsea_blocks10.npy      float32, forward-hook output of `_blocks.10`
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
            "chelsea_grad_top.npy": "float32 [1,3,224,224], gradient of the top-1 logit w.r.t. the normalised input",
            "chelsea_blocks10.npy": "float32, output of model._blocks[10] (forward hook)",
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
        x = x.clone().requires_grad_(name == "chelsea")
        logits = model(x)
        hook.remove()
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
        if name == "chelsea":
            logits[0, top1].backward()
            grad = x.grad.detach()
            save_npy("chelsea_grad_top.npy", grad.numpy())
            blocks10 = captured["blocks10"]
            save_npy("chelsea_blocks10.npy", blocks10.numpy())
            entry["grad_top_abs_max"] = float(grad.abs().max())
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
