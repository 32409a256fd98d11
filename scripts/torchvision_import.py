"""Imports torchvision beside a CPU-only torch.

torchvision from PyPI is a CUDA build: its C++ ops (linked against libtorch_cuda) do not load with
the CPU torch, and its import then fails while registering fake kernels for `nms` and `qnms`.
`import_torchvision()` declares those two op schemas first, so that the pure-Python parts
(models, transforms; what pytorch-grad-cam, lucent and horama import) import; the C++ ops stay
absent (torchvision.extension._has_ops() is False).
"""
import sys

import torch


def import_torchvision():
    try:
        import torchvision.extension
    except RuntimeError:
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import_torchvision.lib = lib  # keep the definitions alive
        import torchvision.extension
    import torchvision
    return torchvision
