#!/usr/bin/env python3
"""Golden file for Fovea's Keras .h5 import: cifar-10-model 7.4.0's CNN written in PyTorch.

    python3 Tests/Golden/make_keras_golden.py [CACHE]      (CACHE: default ~/.cache/fovea)

Needs torch and h5py (no TensorFlow). Reads CACHE/models/cifar10_cnn_model.h5 (fetched by
scripts/fetch-data.sh from the cifar-10-model wheel), rebuilds the Sequential network from its
model_config in PyTorch (NCHW; Conv2D kernels HWIO -> OIHW, Dense kernels transposed, Flatten
in channels-last order), and writes Tests/Golden/keras/cifar10.safetensors:
  input        [2, 3, 32, 32]: raw 0..255 pixels, 127.5 + 255 u("keras", i) (u as in
               make_synthetic_golden.py), the model's input layout
  logits       [2, 10]
  conv2d_3     the output of layer conv2d_3 (after its ReLU), [2, 128, 12, 12]
  input_grad   d logits[:, 3].sum() / d input
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import write_safetensors  # noqa: E402
from make_synthetic_golden import uniform  # noqa: E402


def main():
    cache = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/fovea")
    f = h5py.File(os.path.join(cache, "models", "cifar10_cnn_model.h5"), "r")
    config = json.loads(f.attrs["model_config"])
    layers = config["config"]["layers"]

    def weights(name):
        group = f["model_weights"][name]
        return {w.split("/")[-1].split(":")[0]: torch.tensor(np.array(group[w])) for w in group.attrs["weight_names"]}

    def act(x, name):
        return {"relu": F.relu, "linear": lambda v: v, "softmax": lambda v: torch.softmax(v, 1)}[name](x)

    x = torch.tensor((127.5 + 255 * uniform("keras", 2 * 3 * 32 * 32)).reshape(2, 3, 32, 32), requires_grad=True)
    captured = {}
    y = x
    for layer in layers:
        kind, c = layer["class_name"], layer["config"]
        if kind == "InputLayer" or kind == "Dropout":
            continue
        if kind == "Conv2D":
            assert c["padding"] == "valid" and c["strides"] == [1, 1]
            w = weights(c["name"])
            y = act(F.conv2d(y, w["kernel"].permute(3, 2, 0, 1), w["bias"]), c["activation"])
        elif kind == "BatchNormalization":
            w = weights(c["name"])
            y = F.batch_norm(y, w["moving_mean"], w["moving_variance"], w["gamma"], w["beta"], False, 0.0, c["epsilon"])
        elif kind == "MaxPooling2D":
            assert c["padding"] == "valid"
            y = F.max_pool2d(y, c["pool_size"], c["strides"])
        elif kind == "Flatten":
            y = y.permute(0, 2, 3, 1).flatten(1)
        elif kind == "Dense":
            w = weights(c["name"])
            y = act(y @ w["kernel"] + w["bias"], c["activation"])
        else:
            raise SystemExit(f"unexpected layer {kind}")
        captured[c["name"]] = y
    logits = y
    logits[:, 3].sum().backward()
    os.makedirs(os.path.join(HERE, "keras"), exist_ok=True)
    write_safetensors(os.path.join(HERE, "keras", "cifar10.safetensors"), {
        "input": x.detach(), "logits": logits.detach(), "conv2d_3": captured["conv2d_3"].detach(), "input_grad": x.grad,
    })
    print("logits", logits.detach().numpy().round(3))


if __name__ == "__main__":
    main()
