#!/usr/bin/env python3
"""Small classifiers in the patterns real exporters produce, and onnxruntime's answers on them.

    python3 Tests/Golden/make_exports_golden.py

Needs torch, onnx and onnxruntime. Writes Tests/Golden/exports/ (weights inside each file,
a few kB each; every value comes from u(key, i) of golden_io.py, in [-0.5, 0.5)):

torch_softmax.onnx
    torch.onnx.export (TorchScript exporter, opset 17) of a 3x32x32 CNN with its defaults: a
    fixed batch of 1, and the model's own final softmax. Conv-ReLU-MaxPool-Conv-ReLU-
    AdaptiveAvgPool(1)-Flatten-Linear(16, 5)-Softmax -> GlobalAveragePool, Flatten, Gemm, Softmax.
tf_nhwc.onnx
    written with onnx.helper in tf2onnx's layout: an NHWC input [1, 32, 32, 3], Transpose to
    NCHW around each Conv, channels-last activations between (Transpose, Cast, Mul), a
    ReduceMean over axes 1, 2, MatMul + Add, and LogSoftmax.
reducemean_head.onnx
    NCHW with a dynamic batch: Conv-Relu-Conv-Relu, ReduceMean over 2, 3 (keepdims), Reshape to
    [N, -1], MatMul + Add, no final activation.
odd_transpose.onnx
    a Transpose to N x H x C x W (neither NCHW nor NHWC) after the first Conv: Fovea must refuse
    that value as a map layer, and pick the Conv's NCHW output for CAM.
exports.safetensors, for each model M of the first three (its input x: 2 u("exports", i) in the model's layout):
    M.input      the input
    M.output     onnxruntime's graph output
    M.logits     onnxruntime's value entering the final Softmax/LogSoftmax (= output if none)
    M.features   the value entering the final linear layer [1, K]
    M.spatial    the last NCHW feature map before the global pooling [1, K, h, w]
    M.weight     the final linear map as [classes, K]
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import uniform, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "exports")


def weights(key, shape, scale):
    return (scale * 2 * uniform(key, int(np.prod(shape)))).astype(np.float32).reshape(shape)


def save_graph(path, nodes, inputs, outputs, init, producer="onnx-helper"):
    """A checked opset-13 model of `nodes`, written to `path`."""
    graph = helper.make_graph(nodes, os.path.splitext(os.path.basename(path))[0], inputs, outputs, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name=producer)
    onnx.checker.check_model(model)
    onnx.save(model, path)


class SoftmaxCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU())
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        return torch.softmax(self.fc(torch.flatten(self.pool(self.features(x)), 1)), dim=1)


def torch_softmax(path):
    model = SoftmaxCNN().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 1.0 if name.startswith("fc") else 0.5
            p.copy_(torch.from_numpy(weights("exports.torch." + name, tuple(p.shape), scale)))
    torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), path, opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["probabilities"])


def tf_nhwc(path):
    init = [
        numpy_helper.from_array(weights("exports.tf.w1", (8, 3, 3, 3), 0.5), "conv1/kernel"),
        numpy_helper.from_array(weights("exports.tf.b1", (8,), 0.1), "conv1/bias"),
        numpy_helper.from_array(weights("exports.tf.w2", (12, 8, 3, 3), 0.5), "conv2/kernel"),
        numpy_helper.from_array(weights("exports.tf.b2", (12,), 0.1), "conv2/bias"),
        numpy_helper.from_array(np.full((1, 1, 1, 12), 1.5, np.float32), "scale"),
        numpy_helper.from_array(weights("exports.tf.dense", (12, 5), 0.5), "dense/kernel"),
        numpy_helper.from_array(weights("exports.tf.dense_b", (5,), 0.5), "dense/bias"),
    ]
    nodes = [
        helper.make_node("Transpose", ["input_1"], ["conv1_nchw"], perm=[0, 3, 1, 2], name="conv1/transpose_in"),
        helper.make_node("Conv", ["conv1_nchw", "conv1/kernel", "conv1/bias"], ["conv1/BiasAdd"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["conv1/BiasAdd"], ["conv1/Relu"], name="conv1/relu"),
        helper.make_node("MaxPool", ["conv1/Relu"], ["pool1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        helper.make_node("Transpose", ["pool1"], ["pool1_nhwc"], perm=[0, 2, 3, 1], name="pool1/transpose_out"),
        helper.make_node("Cast", ["pool1_nhwc"], ["pool1_cast"], to=TensorProto.FLOAT, name="pool1/cast"),
        helper.make_node("Transpose", ["pool1_cast"], ["conv2_nchw"], perm=[0, 3, 1, 2], name="conv2/transpose_in"),
        helper.make_node("Conv", ["conv2_nchw", "conv2/kernel", "conv2/bias"], ["conv2/BiasAdd"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Transpose", ["conv2/BiasAdd"], ["conv2_nhwc"], perm=[0, 2, 3, 1], name="conv2/transpose_out"),
        helper.make_node("Relu", ["conv2_nhwc"], ["conv2/Relu"], name="conv2/relu"),
        helper.make_node("Mul", ["conv2/Relu", "scale"], ["conv2/scaled"], name="conv2/scale"),
        helper.make_node("ReduceMean", ["conv2/scaled"], ["gap"], axes=[1, 2], keepdims=0, name="global_average_pooling2d"),
        helper.make_node("MatMul", ["gap", "dense/kernel"], ["dense/MatMul"], name="dense/matmul"),
        helper.make_node("Add", ["dense/MatMul", "dense/bias"], ["dense/BiasAdd"], name="dense/add"),
        helper.make_node("LogSoftmax", ["dense/BiasAdd"], ["dense/LogSoftmax"], axis=1, name="dense/logsoftmax"),
    ]
    save_graph(path, nodes, [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, [1, 32, 32, 3])],
               [helper.make_tensor_value_info("dense/LogSoftmax", TensorProto.FLOAT, [1, 5])], init, producer="tf2onnx-pattern")


def reducemean_head(path):
    init = [
        numpy_helper.from_array(weights("exports.rm.w1", (8, 3, 3, 3), 0.5), "w1"),
        numpy_helper.from_array(weights("exports.rm.w2", (16, 8, 3, 3), 0.5), "w2"),
        numpy_helper.from_array(np.array([-1, 16], np.int64), "flat_shape"),
        numpy_helper.from_array(weights("exports.rm.fc", (16, 5), 1.0), "fc_w"),
        numpy_helper.from_array(weights("exports.rm.fc_b", (5,), 0.5), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("ReduceMean", ["r2"], ["pooled"], axes=[2, 3], keepdims=1),
        helper.make_node("Reshape", ["pooled", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "fc_w"], ["mm"]),
        helper.make_node("Add", ["mm", "fc_b"], ["scores"]),
    ]
    save_graph(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
               [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 5])], init)


def odd_transpose(path):
    init = [
        numpy_helper.from_array(weights("exports.odd.w", (4, 3, 3, 3), 0.5), "w"),
        numpy_helper.from_array(weights("exports.odd.fc", (5, 32), 0.5), "fc_w"),
        numpy_helper.from_array(weights("exports.odd.fc_b", (5,), 0.5), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Transpose", ["conv"], ["nhcw"], perm=[0, 2, 1, 3]),
        helper.make_node("Relu", ["nhcw"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["scores"], transB=1),
    ]
    save_graph(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
               [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 5])], init)


def linear_weight(path):
    """The final Gemm's or MatMul's constant weight as [classes, K]."""
    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    node = [n for n in model.graph.node if n.op_type in ("Gemm", "MatMul")][-1]
    w = inits[node.input[1]]
    trans_b = any(a.name == "transB" and a.i == 1 for a in node.attribute)
    return w if trans_b else w.T


def run_with(path, x, extra):
    """onnxruntime's outputs, with intermediate values `extra` added as graph outputs."""
    model = onnx.load(path)
    for name in extra:
        if name not in [o.name for o in model.graph.output]:
            model.graph.output.append(helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    values = session.run(None, {session.get_inputs()[0].name: x})
    return dict(zip([o.name for o in session.get_outputs()], values))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch_softmax(os.path.join(OUT, "torch_softmax.onnx"))
    tf_nhwc(os.path.join(OUT, "tf_nhwc.onnx"))
    reducemean_head(os.path.join(OUT, "reducemean_head.onnx"))
    odd_transpose(os.path.join(OUT, "odd_transpose.onnx"))

    golden = {}
    torch_model = onnx.load(os.path.join(OUT, "torch_softmax.onnx"))
    names = {n.op_type: n for n in torch_model.graph.node}
    cases = {
        # model: (input shape, logits value, features value, spatial value)
        "torch_softmax": ((1, 3, 32, 32), names["Softmax"].input[0], names["Gemm"].input[0], names["GlobalAveragePool"].input[0]),
        "tf_nhwc": ((1, 32, 32, 3), "dense/BiasAdd", "gap", "conv2/BiasAdd"),
        "reducemean_head": ((2, 3, 32, 32), "scores", "flat", "r2"),
    }
    for model, (shape, logits, features, spatial) in cases.items():
        x = (2 * uniform("exports", int(np.prod(shape)))).astype(np.float32).reshape(shape)
        path = os.path.join(OUT, f"{model}.onnx")
        out = run_with(path, x, [logits, features, spatial])
        graph_output = onnx.load(path).graph.output[0].name
        spatial_value = out[spatial]
        if model == "tf_nhwc":               # conv2/BiasAdd is NCHW; the map Fovea reads is relu(1.5 x)
            spatial_value = np.maximum(spatial_value, 0) * 1.5
        for key, value in [("input", x), ("output", out[graph_output]), ("logits", out[logits]),
                           ("features", out[features]), ("spatial", spatial_value), ("weight", linear_weight(path))]:
            golden[f"{model}.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
        print(model, "output", out[graph_output].reshape(-1)[:5])
    write_safetensors(os.path.join(OUT, "exports.safetensors"), golden)


if __name__ == "__main__":
    main()
