#!/usr/bin/env python3
"""Golden files for Fovea's torchvision-layout models (Tests/Golden/torchvision/).

    python3 Tests/Golden/make_torchvision_golden.py --cache ~/.cache/fovea

Needs torch and torchvision (`pip install --no-deps torchvision` keeps the installed torch).
Writes:
  layouts.json               state-dict keys and shapes of torchvision's alexnet, squeezenet1_0/1_1, mobilenet_v2
  squeezenet1_1.safetensors  a seeded random squeezenet1_1 state dict, stored as float16 (2.5 MB)
  chelsea_torchvision.png    chelsea after Resize(256) + CenterCrop(224) (torchvision on PIL)
  squeezenet1_1_chelsea_logits.npy
                             logits of that model, weights = the float16 values in float32,
                             on the crop normalised with ImageNet mean/std, in eval mode
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchvision")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/fovea"))
    args = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    layouts = {}
    def layout(name):
        sd = getattr(torchvision.models, name)(weights=None).state_dict()
        layouts[name] = {k: list(v.shape) for k, v in sd.items()}

    # The seeded checkpoint is drawn after these three layouts (the order fixes its values).
    for name in ["alexnet", "squeezenet1_0", "squeezenet1_1"]:
        layout(name)
    model = torchvision.models.squeezenet1_1(weights=None).eval()
    layout("mobilenet_v2")
    with open(os.path.join(OUT, "layouts.json"), "w") as f:
        json.dump({"torchvision": torchvision.__version__, "models": layouts}, f, indent=1)

    state = {k: v.half() for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(OUT, "squeezenet1_1.safetensors"), state, dtype="F16")
    model.load_state_dict({k: v.float() for k, v in state.items()})

    image = Image.open(os.path.join(os.path.expanduser(args.cache), "photos", "chelsea.png")).convert("RGB")
    crop = transforms.CenterCrop(224)(transforms.Resize(256)(image))
    crop.save(os.path.join(OUT, "chelsea_torchvision.png"))
    x = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])(transforms.ToTensor()(crop))[None]
    with torch.no_grad():
        logits = model(x)[0]
    np.save(os.path.join(OUT, "squeezenet1_1_chelsea_logits.npy"), logits.numpy().astype("<f4"), allow_pickle=False)
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
