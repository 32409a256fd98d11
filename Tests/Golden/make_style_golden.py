#!/usr/bin/env python3
"""Goldens of `vgg16-features` (the ImageNet VGG-16 of the style work) and of the Gatys losses.

    python3 Tests/Golden/make_style_golden.py [--cache ~/.cache/fovea]

Needs torch, numpy, onnx, onnxruntime and CACHE/models/vgg16-features.onnx (scripts/fetch-data.sh).
Inputs come from `uniform` of make_synthetic_golden.py: u(key, i) in [-0.5, 0.5), and every image
below is u(key, i) + 0.5 in row-major NCHW order, RGB, on the 0..1 scale.

Writes Tests/Golden/style/vgg16.safetensors:
  image          [1, 3, 64, 80]    key "style-image"
  ort_relu1_2    [1, 8, 64, 80]    channels 0..7 of block1_conv2's ReLU  } onnxruntime on the ONNX
  ort_relu3_3    [1, 256, 16, 20]  block3_conv3's ReLU                   } file itself, fed `image`
  ort_pool5      [1, 512, 2, 2]    block5_pool                           } as NHWC, BGR, 255 x minus
                                                                           (103.939, 116.779, 123.68),
                                                                           outputs transposed to NCHW
  content        [1, 3, 32, 40]    key "style-content"
  style          [1, 3, 40, 32]    key "style-style"
  x              [1, 3, 32, 40]    key "style-x"
  gram_relu2_1   [128, 128]        gram(relu2_1(x)) = F F^T, F = relu2_1(x) as [128, 16 * 20]
  style_loss     [1]               sum over relu1_1, relu2_1, relu3_1 of 1/3 * 1/(4 N^2 M^2) *
                                   sum((G(x) - G(style))^2), N channels, M = H * W of that layer
  content_loss   [1]               0.5 * sum((relu2_2(x) - relu2_2(content))^2)
  total          [1]               content_loss + 1000 * style_loss
  grad_x         [1, 3, 32, 40]    d total / d x (x on the 0..1 scale)
The loss goldens come from scripts/style_torch.py's load_vgg16 (in float64, stored as float32);
the script first asserts that load_vgg16 reproduces the three onnxruntime outputs, which ties the
torch reference (RGB input, flipped conv1_1, 255 x - RGB mean inside) to the ONNX file.
"""
import argparse
import os
import sys
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts"))
from golden_io import write_safetensors  # noqa: E402

try:
    import torchvision  # noqa: F401  (make_synthetic_golden imports it; only its `uniform` is used here)
except Exception:       # a torchvision whose C++ ops do not load with this torch: a stand-in will do
    sys.modules["torchvision"] = types.ModuleType("torchvision")
from make_synthetic_golden import uniform  # noqa: E402
import style_torch  # noqa: E402

OUT = os.path.join(HERE, "style", "vgg16.safetensors")
MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
# Graph outputs added to the ONNX model: golden name -> (tf2onnx node output, torch layer name).
PROBES = {
    "ort_relu1_2": ("functional_1/block1_conv2_1/Relu:0", "relu1_2"),
    "ort_relu3_3": ("functional_1/block3_conv3_1/Relu:0", "relu3_3"),
    "ort_pool5": ("functional_1/block5_pool_1/MaxPool2d:0", "pool5"),
}


def image(key, shape):
    return torch.tensor(uniform(key, int(np.prod(shape))).reshape(shape) + np.float32(0.5))


def feature_model(onnx_path):
    """The ONNX model cut after block5_pool, any height and width, the PROBES as its outputs."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(onnx_path)
    graph = model.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[1].ClearField("dim_value")
    dims[1].dim_param = "height"
    dims[2].ClearField("dim_value")
    dims[2].dim_param = "width"
    # Keep the nodes up to block5_pool: the dense head's Reshape wants 7x7 after pool5.
    last = next(i for i, n in enumerate(graph.node) if PROBES["ort_pool5"][0] in n.output)
    kept = list(graph.node[: last + 1])
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for n in kept for name in n.input}
    initializers = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.output[:]
    graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name, _ in PROBES.values())
    graph.ClearField("value_info")
    return model


def onnxruntime_features(onnx_path, x01):
    """{golden name: NCHW array} from onnxruntime for RGB x01 [1, 3, H, W]."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(feature_model(onnx_path).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    nhwc_bgr = x01.numpy()[0].transpose(1, 2, 0)[None, :, :, ::-1] * np.float32(255) - MEAN_BGR
    outputs = session.run([name for name, _ in PROBES.values()],
                          {session.get_inputs()[0].name: np.ascontiguousarray(nhwc_bgr, dtype=np.float32)})
    return dict(zip(PROBES, outputs))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", default=style_torch.DEFAULT_CACHE)
    args = p.parse_args()
    torch.set_num_threads(2)
    onnx_path = style_torch.vgg16_onnx_path(args.cache)
    out = {}

    x_image = image("style-image", (1, 3, 64, 80))
    ort_out = onnxruntime_features(onnx_path, x_image)
    net = style_torch.load_vgg16(onnx_path)
    with torch.no_grad():
        ours = net.features(x_image, [layer for _, layer in PROBES.values()])
    out["image"] = x_image
    report = []
    for name, (_, layer) in PROBES.items():
        reference = torch.tensor(ort_out[name])
        diff = (ours[layer] - reference).abs().max().item()
        scale = reference.abs().max().item()
        report.append(f"{layer} max |torch - ort| {diff:.3g} (max |ort| {scale:.4g})")
        assert diff <= 1e-4 * scale, f"load_vgg16 disagrees with onnxruntime at {layer}: {diff} vs scale {scale}"
        out[name] = reference[:, :8].clone() if name == "ort_relu1_2" else reference

    # The loss goldens in float64.
    net = net.double()
    content = image("style-content", (1, 3, 32, 40))
    style = image("style-style", (1, 3, 40, 32))
    x0 = image("style-x", (1, 3, 32, 40))
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    with torch.no_grad():
        style_grams = {k: style_torch.gram(v) for k, v in net.features(style.double(), layers).items()}
        target = net.features(content.double(), ["relu2_2"])["relu2_2"]
    x = x0.double().requires_grad_(True)
    feats = net.features(x, layers + ["relu2_2"])
    ls = style_torch.style_loss(feats, style_grams, layers, [1.0 / 3] * 3)
    lc = style_torch.content_loss(feats["relu2_2"], target)
    total = lc + 1000.0 * ls
    total.backward()
    out.update(content=content, style=style, x=x0, gram_relu2_1=style_torch.gram(feats["relu2_1"]).detach(),
               style_loss=ls.detach().reshape(1), content_loss=lc.detach().reshape(1),
               total=total.detach().reshape(1), grad_x=x.grad)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, {k: v.detach().float() for k, v in out.items()})
    print(f"wrote {OUT} ({os.path.getsize(OUT) / 1e6:.2f} MB, {len(out)} tensors); " + "; ".join(report)
          + f"; style_loss {ls.item():.6g}, content_loss {lc.item():.6g}, total {total.item():.6g}")


if __name__ == "__main__":
    main()
