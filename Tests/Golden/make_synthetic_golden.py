#!/usr/bin/env python3
"""Logits and input gradients of every torchvision architecture Fovea builds, with synthetic
weights both sides can generate from a formula (no multi-megabyte checkpoints in the repo).

    python3 Tests/Golden/make_synthetic_golden.py

Needs torch and torchvision. Every state-dict entry is a function of its key and element index:
u(key, i) in [-0.5, 0.5) from a 32-bit integer hash (FNV-1a of the key, mixed with i; see
`uniform` below and Tests/_FoveaTestSupport/SyntheticWeights.swift), then
  running_var: 1 + u          running_mean: 0.2 u          num_batches_tracked: 0
  ResNet residual branches' last BN weights (`layer*.bn2.weight`, `layer*.bn3.weight`): 0.2 u
  (as torchvision's zero_init_residual, so that depth does not blow up the activations)
  other rank 1 (BN weight/bias, biases): `.weight` 1 + 0.2 u, `.bias` 0.2 u
  rank >= 2 (conv, linear): u sqrt(24 / fan_in)   (uniform with variance 2 / fan_in)
The input is 2 u("input", i), shape [1, 3, 64, 64]. Models run in eval mode.
Writes Tests/Golden/torchvision/synthetic/:
  layouts.json          every model's state-dict keys and shapes
  <model>.safetensors   logits [1, 1000] and the gradient of the top logit w.r.t. the input
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import write_safetensors  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import fnv1a, uniform  # noqa: E402,F401  (uniform is imported from here by the other scripts)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchvision", "synthetic")
MODELS = ["alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
          "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "squeezenet1_0", "squeezenet1_1",
          "mobilenet_v2", "densenet121", "googlenet"]


def synthetic(key, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(key, n)
    if key.endswith("num_batches_tracked"):
        v = np.zeros(n, np.float32)
    elif key.endswith("running_var"):
        v = 1 + u
    elif key.endswith("running_mean"):
        v = np.float32(0.2) * u
    elif key.startswith("layer") and (key.endswith("bn2.weight") or key.endswith("bn3.weight")):
        v = np.float32(0.2) * u          # residual branches start small, so depth does not blow up
    elif len(shape) == 1:
        v = (1 + np.float32(0.2) * u) if key.endswith(".weight") else np.float32(0.2) * u
    else:
        fan_in = int(np.prod(shape[1:]))
        v = u * np.float32(np.sqrt(24.0 / fan_in))
    return torch.tensor(v.reshape(shape))


def build(name):
    if name == "googlenet":
        # The checkpoint layout (with the auxiliary heads) and the input transform of the ImageNet weights.
        return torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    return getattr(torchvision.models, name)(weights=None)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    layouts = {}
    x0 = torch.tensor(2 * uniform("input", 3 * 64 * 64).reshape(1, 3, 64, 64))
    for name in MODELS:
        model = build(name)
        state = model.state_dict()
        layouts[name] = {k: list(v.shape) for k, v in state.items()}
        model.load_state_dict({k: synthetic(k, list(v.shape)).to(v.dtype) for k, v in state.items()})
        model.eval()
        x = x0.clone().requires_grad_(True)
        logits = model(x)
        top = int(logits[0].argmax())
        logits[0, top].backward()
        write_safetensors(os.path.join(OUT, f"{name}.safetensors"), {"logits": logits.detach(), "input_grad": x.grad})
        print(name, "top", top, "logit", logits[0, top].item())
    with open(os.path.join(OUT, "layouts.json"), "w") as f:
        json.dump({"torchvision": torchvision.__version__, "models": layouts}, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
