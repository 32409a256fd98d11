#!/usr/bin/env python3
"""Keras Functional and Keras 3 files for Fovea's Keras import, and Keras's own answers on them.

    KERAS_BACKEND=torch python3 Tests/Golden/make_keras_functional_golden.py

Needs keras 3 (on its torch backend: no TensorFlow) and h5py. Writes Tests/Golden/keras/:

functional.keras       a Functional CNN saved by Keras 3 (`model.save`, zip: config.json and
                       model.weights.h5, weights under layers/<class name>_<k>/vars/<i>). Layers:
                       Conv2D, BatchNormalization, ReLU(max_value=6), DepthwiseConv2D, hard_swish,
                       Add (residual), GlobalAveragePooling2D(keepdims) + 1x1 Conv2D sigmoid +
                       Multiply (squeeze-excite), SeparableConv2D, MaxPooling2D, Concatenate,
                       Reshape, Dense softmax.
functional.h5          the same model through Keras 3's legacy HDF5 writer (`model.save(".h5")`).
functional_keras2.h5   that file with its model_config in Keras 2's layout (inbound_nodes as
                       [[name, node, tensor, kwargs]] lists, batch_input_shape, nested
                       input_layers/output_layers), as Keras 2 `model.save` wrote it.
sequential.keras       a Sequential CNN (Conv2D, BatchNormalization, MaxPooling2D, Flatten,
                       Dropout, Dense) saved by Keras 3.
keras3.safetensors, for M in functional, sequential:
    M.input      [2, 3, 32, 32] NCHW, 255 (u("keras3", i) + 0.5) (u from golden_io.py); Keras is
                 fed its NHWC transpose
    M.output     Keras's predictions (softmax)
    M.logits     the final Dense's pre-activation values
    functional.se_scale   the output of layer se_scale, as NCHW
Every weight is 0.5 u("keras3.<layer>.<i>", j), and BN variances 1 + 0.5 u.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import uniform, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "keras")


def functional():
    inp = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(max_value=6.0, name="stem_relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = layers.Activation("hard_swish", name="hs")(y)
    x = layers.Add(name="residual")([x, y])
    s = layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(x)
    s = layers.Conv2D(8, 1, activation="sigmoid", name="se_gate")(s)
    x = layers.Multiply(name="se_scale")([x, s])
    a = layers.SeparableConv2D(6, 3, padding="same", strides=2, name="sep")(x)
    b = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Concatenate(name="concat")([a, b])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Reshape((1, 1, 14), name="to_map")(x)
    x = layers.Reshape((14,), name="to_vector")(x)
    out = layers.Dense(5, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="functional_cnn")


def sequential():
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(6, 3, activation="relu", name="conv_a"),
        layers.BatchNormalization(name="bn_a"),
        layers.MaxPooling2D(2, name="pool_a"),
        layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_b"),
        layers.Flatten(name="flatten"),
        layers.Dropout(0.5, name="drop"),
        layers.Dense(5, activation="softmax", name="predictions"),
    ], name="sequential_cnn")


def seed_weights(model):
    for layer in model.layers:
        values = []
        for i, w in enumerate(layer.get_weights()):
            v = 0.5 * uniform(f"keras3.{layer.name}.{i}", w.size).reshape(w.shape)
            if isinstance(layer, layers.BatchNormalization) and i == 3:
                v = 1 + v                                     # moving variance
            values.append(v.astype(np.float32))
        layer.set_weights(values)


def keras2_config(config):
    """A Keras 3 Functional config in Keras 2's layout."""
    def history(arg):
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            name, node, tensor = arg["config"]["keras_history"]
            return [[name, node, tensor, {}]]
        if isinstance(arg, list):
            return [h for a in arg for h in history(a)]
        return []
    c = json.loads(json.dumps(config))
    for layer in c["config"]["layers"]:
        layer["inbound_nodes"] = [history(node["args"]) for node in layer["inbound_nodes"]]
        if "batch_shape" in layer["config"]:
            layer["config"]["batch_input_shape"] = layer["config"].pop("batch_shape")
    for key in ("input_layers", "output_layers"):
        v = c["config"][key]
        c["config"][key] = [v] if isinstance(v[0], str) else v
    c["class_name"] = "Model"
    return c


def main():
    os.makedirs(OUT, exist_ok=True)
    golden = {}
    for name, build in [("functional", functional), ("sequential", sequential)]:
        model = build()
        seed_weights(model)
        model.save(os.path.join(OUT, f"{name}.keras"))
        x = (255 * (uniform("keras3", 2 * 3 * 32 * 32) + 0.5)).astype(np.float32).reshape(2, 3, 32, 32)
        nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        out = keras.ops.convert_to_numpy(model(nhwc))
        dense = model.get_layer("predictions")
        features = keras.Model(model.inputs, dense.input)(nhwc)
        w, b = dense.get_weights()
        logits = keras.ops.convert_to_numpy(features) @ w + b
        golden[f"{name}.input"] = torch.from_numpy(x)
        golden[f"{name}.output"] = torch.from_numpy(out)
        golden[f"{name}.logits"] = torch.from_numpy(logits.astype(np.float32))
        if name == "functional":
            model.save(os.path.join(OUT, "functional.h5"))
            se = keras.ops.convert_to_numpy(keras.Model(model.inputs, model.get_layer("se_scale").output)(nhwc))
            golden["functional.se_scale"] = torch.from_numpy(np.ascontiguousarray(se.transpose(0, 3, 1, 2)))
            with h5py.File(os.path.join(OUT, "functional.h5"), "r") as f:
                config = json.loads(f.attrs["model_config"])
            keras2 = os.path.join(OUT, "functional_keras2.h5")
            with h5py.File(os.path.join(OUT, "functional.h5"), "r") as src, h5py.File(keras2, "w") as dst:
                for key in src.attrs:
                    dst.attrs[key] = src.attrs[key]
                for key in src:
                    src.copy(key, dst)
                dst.attrs["model_config"] = json.dumps(keras2_config(config))
        print(name, out[0])
    write_safetensors(os.path.join(OUT, "keras3.safetensors"), golden)


if __name__ == "__main__":
    main()
