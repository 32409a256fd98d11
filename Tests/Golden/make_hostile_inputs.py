#!/usr/bin/env python3
"""Hostile and broken inputs, kept as regression tests (Tests/FoveaCLITests/HostileInputTests.swift).

    python3 Tests/Golden/make_hostile_inputs.py

Needs onnx, numpy and Pillow. Writes Tests/Golden/hostile/ (all small):

constant_of_shape.onnx  ConstantOfShape of [2^62, 2^62] (an integer overflow when sized)
conv_pads.onnx          a Conv with pads of 100000 on a 3x8x8 input
big_input.onnx          an input declared 1x3x200000x200000
expand.onnx             an Expand to [1, 3, 30000, 30000] (10 GB)
nan_model.onnx          a 3-class "classifier" whose output is NaN for every input (0 / 0)
external_data.onnx      a classifier whose weight lives in the external file `weights.bin`
                        (not committed: the test puts a symlink there)
huge_header.jpg         a 16x16 JPEG whose SOF header declares 26000x26000 (a few hundred bytes)
truncated.jpg           a real 64x64 JPEG cut in its scan data, then an EOI marker appended
bomb-images-idx3-ubyte.gz  gzip of an IDX header for 1 x 28 x 28 images followed by 64 MB of zeros
empty-images-idx3-ubyte    an IDX images file with 0 images of 28 x 28

Not written by this script: libhdf5_hang.h5, the input `make fuzz` found (a mutation of
Tests/Golden/keras/functional.h5) on which Debian's libhdf5 1.10 loops forever inside H5Aread;
kept as is.
"""
import gzip
import io
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile")


def save(name, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(OUT, name + ".onnx"))


def image_input(shape=(1, 3, 8, 8)):
    return [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))]


def scores(n=3):
    return [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])]


def pooled_head(source):
    return [helper.make_node("GlobalAveragePool", [source], ["p"]), helper.make_node("Flatten", ["p"], ["y"])]


def main():
    os.makedirs(OUT, exist_ok=True)
    save("constant_of_shape",
         [helper.make_node("ConstantOfShape", ["shape"], ["big"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
          helper.make_node("Add", ["x", "big"], ["s"])] + pooled_head("s"),
         image_input(), scores(), [numpy_helper.from_array(np.array([2 ** 62, 2 ** 62], np.int64), "shape")])
    save("conv_pads", [helper.make_node("Conv", ["x", "w"], ["c"], pads=[100000] * 4)] + pooled_head("c"),
         image_input(), scores(4), [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")])
    save("big_input", pooled_head("x"), image_input((1, 3, 200000, 200000)), scores())
    save("expand", [helper.make_node("Expand", ["x", "shape"], ["e"])] + pooled_head("e"), image_input(), scores(),
         [numpy_helper.from_array(np.array([1, 3, 30000, 30000], np.int64), "shape")])
    save("nan_model", [helper.make_node("Div", ["x", "zero"], ["d"]), helper.make_node("Sub", ["d", "d"], ["n"])] + pooled_head("n"),
         image_input(), scores(), [numpy_helper.from_array(np.zeros((1,), np.float32), "zero")])
    # External data: the weight's bytes are in weights.bin beside the model.
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in [("location", "weights.bin"), ("offset", "0"), ("length", str(4 * 3 * 3 * 3 * 4))]:
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    save("external_data", [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1] * 4)] + pooled_head("c"), image_input(), scores(4), [w])

    # A JPEG whose header lies about its size.
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = (26000).to_bytes(2, "big") + (26000).to_bytes(2, "big")
    open(os.path.join(OUT, "huge_header.jpg"), "wb").write(bytes(data))
    # A JPEG cut in its scan data, "repaired" with an EOI marker.
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    open(os.path.join(OUT, "truncated.jpg"), "wb").write(data[:len(data) // 2] + b"\xff\xd9")

    header = bytes([0, 0, 8, 3]) + (1).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    with gzip.open(os.path.join(OUT, "bomb-images-idx3-ubyte.gz"), "wb", compresslevel=9) as f:
        f.write(header + bytes(28 * 28))
        for _ in range(64):
            f.write(bytes(1 << 20))
    open(os.path.join(OUT, "empty-images-idx3-ubyte"), "wb").write(bytes([0, 0, 8, 3]) + (0).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)


if __name__ == "__main__":
    main()
