"""fashion-cnn in PyTorch: the same layers, indices and state-dict keys as Fovea's FashionCNN
(Sources/FoveaModels/FashionCNN.swift), plus Fashion-MNIST from the Debian package's IDX files.
Used by the golden script and the training benchmark."""
import gzip
import os

import numpy as np
import torch
from torch import nn

FASHION_MNIST = os.environ.get("FOVEA_FASHION_MNIST") or "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


class FashionCNN(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def read_idx(path):
    """An IDX file (gzip or plain) of unsigned bytes as a numpy array."""
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    assert raw[0] == 0 and raw[1] == 0 and raw[2] == 8, f"{path}: not an unsigned-byte IDX file"
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load_split(split):
    """(inputs [N, 1, 28, 28] normalised as fashion-cnn's preprocessing, labels [N]) of 'train' or 'test'."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(FASHION_MNIST, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(FASHION_MNIST, f"{prefix}-labels-idx1-ubyte.gz"))
    # Same arithmetic as Fovea: (pixel - 255 * mean) / (255 * std) in float32.
    x = (torch.tensor(images, dtype=torch.float32) - MEAN * 255) / (STD * 255)
    return x.unsqueeze(1), torch.tensor(labels, dtype=torch.long)


def load_safetensors(path):
    """A float32/float16 safetensors file as a state dict (no safetensors package needed)."""
    import json
    import struct
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    state = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dtype = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}[info["dtype"]]
        state[name] = torch.tensor(np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dtype).reshape(info["shape"]).astype(np.float32) if dtype != "<i8" else np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dtype).reshape(info["shape"]))
    return state
