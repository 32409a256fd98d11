#!/usr/bin/env python3
"""Regenerates the weights / array fixtures used by Tests/FoveaIOTests/WeightsTests.swift.

Run from anywhere: python3 make_weights_fixtures.py   (needs torch and numpy)
Files are written next to this script. Expected values in the Swift tests follow from the
definitions below; keep the two in sync.
"""
import collections
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
WRITTEN = set()  # the folder is shared with other fixture scripts; only ours are counted


def path(name):
    WRITTEN.add(name)
    return os.path.join(HERE, name)


def tiny_state_dict():
    # Every float here is exactly representable, so the tests can compare exactly.
    base = torch.arange(12, dtype=torch.float32) * 0.5 - 1  # -1, -0.5, ..., 4.5 (one shared storage)
    sd = collections.OrderedDict()
    sd["conv.weight"] = base.view(2, 2, 3)                 # contiguous
    sd["fc.weight"] = base.view(3, 4).t()                  # transposed: shape [4, 3], strides (1, 4)
    sd["fc.bias"] = base[5:9]                              # storage offset 5
    sd["crop"] = base.view(3, 4)[1:, 1:3]                  # offset 5, strides (4, 1), shape [2, 2]
    sd["strided"] = base[1::3]                             # offset 1, stride 3
    sd["param"] = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    sd["half"] = torch.tensor([1.5, -2.0, 2.0**-14, 65504.0, 2.0**-24], dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.0, -3.5, 0.15625], dtype=torch.bfloat16)
    sd["double"] = torch.tensor([0.1, -2.5], dtype=torch.float64)
    sd["labels"] = torch.tensor([-3, 4], dtype=torch.int32)
    sd["bn.num_batches_tracked"] = torch.tensor(7)         # int64 scalar
    sd._metadata = collections.OrderedDict({"": {"version": 1}})  # as nn.Module.state_dict() has
    return sd


def write_safetensors(name, tensors, metadata, order=None, tamper=None):
    """Plain struct/json writer (the safetensors package is not needed)."""
    codes = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.float64: "F64", torch.int64: "I64", torch.int32: "I32"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for key, t in tensors.items():
        t = t.detach().contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[key] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if tamper:
        tamper(header)
    keys = order or list(header)
    text = json.dumps({k: header[k] for k in keys}).encode()
    text += b" " * (-len(text) % 8)
    with open(path(name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_zip(name, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path(name), "w", compression=compression) as z:
        for entry, data in entries:
            z.writestr(entry, data)


class Evil:
    """Pickles as a call to an arbitrary function (only used to produce the malicious fixtures)."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def main():
    sd = tiny_state_dict()
    torch.save(sd, path("tiny_zip.pt"))
    torch.save(sd, path("tiny_legacy.pt"), _use_new_zipfile_serialization=False)

    wrapped = {
        "epoch": 3,
        "arch": "tiny",
        "best_acc": 0.75,
        "optimizer": {"state": {0: {"momentum_buffer": torch.ones(2)}}, "param_groups": [{"lr": 0.1}]},
        "state_dict": collections.OrderedDict([("w", torch.tensor([0.25, -0.75])), ("b", torch.tensor(2.0))]),
    }
    torch.save(wrapped, path("wrapped_p4.pt"), pickle_protocol=4)

    # Safetensors: header keys deliberately not in data order.
    st = collections.OrderedDict()
    for key in ["conv.weight", "fc.weight", "half", "bf16", "double", "bn.num_batches_tracked"]:
        st[key] = sd[key]
    meta = {"format": "pt", "source": "fovea-fixture"}
    write_safetensors("tiny.safetensors", st, meta, order=["half", "__metadata__", "fc.weight", "conv.weight",
                                                            "bn.num_batches_tracked", "bf16", "double"])

    small = collections.OrderedDict([("a", torch.tensor([1.0, 2.0])), ("b", torch.tensor([3.0]))])
    write_safetensors("tampered_overlap.safetensors", small, {}, tamper=lambda h: h["b"].update(data_offsets=[4, 8]))
    write_safetensors("tampered_past_end.safetensors", small, {}, tamper=lambda h: h["b"].update(data_offsets=[8, 4096]))

    # .npy arrays.
    np.save(path("f4_2x3.npy"), (np.arange(6, dtype=np.float32) * 0.25 - 0.5).reshape(2, 3))
    np.save(path("f4_fortran.npy"), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
    np.save(path("f4_be.npy"), np.array([1.5, -2.0], dtype=">f4"))
    np.save(path("i8_labels.npy"), np.array([3, 1, 4, 1, 5], dtype="<i8"))
    np.save(path("i4.npy"), np.array([[-7, 8], [9, -10]], dtype="<i4"))
    np.save(path("u1.npy"), np.array([0, 128, 255], dtype="|u1"))
    with open(path("f8_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, np.array([0.5, -1.25, 3.0]), version=(2, 0))
    with open(path("f4_v3.npy"), "wb") as f:
        np.lib.format.write_array(f, np.array([[2.0], [4.0]], dtype=np.float32), version=(3, 0))

    # Malicious pickles: importing them in Python would run a command; our reader must refuse.
    with open(path("evil_os_system.pkl"), "wb") as f:
        f.write(b"cos\nsystem\n(S'echo pwned'\ntR.")                        # protocol 0 GLOBAL + REDUCE
    with open(path("evil_builtins_eval.pkl"), "wb") as f:
        f.write(pickle.dumps(Evil(eval, "1+1"), protocol=4))               # STACK_GLOBAL builtins eval
    posix = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    with open(path("evil_posix_system.pkl"), "wb") as f:
        f.write(posix)
    write_zip("evil_zip.pt", [("evil_zip/data.pkl", posix), ("evil_zip/byteorder", b"little"),
                              ("evil_zip/version", b"3\n")])
    legacy = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, legacy, protocol=2)
    legacy.write(posix)
    with open(path("evil_legacy.pt"), "wb") as f:
        f.write(legacy.getvalue())

    # A zip checkpoint with deflate-compressed entries (torch never writes these).
    with zipfile.ZipFile(path("tiny_zip.pt")) as z:
        write_zip("deflated.pt", [(i.filename.replace("tiny_zip/", "deflated/"), z.read(i)) for i in z.infolist()],
                  compression=zipfile.ZIP_DEFLATED)

    # Truncated copies.
    for src, dst, keep in [("tiny_zip.pt", "truncated_zip.pt", 0.5), ("tiny_legacy.pt", "truncated_legacy.pt", 0.97)]:
        data = open(path(src), "rb").read()
        open(path(dst), "wb").write(data[: int(len(data) * keep)])

    total = sum(os.path.getsize(os.path.join(HERE, n)) for n in WRITTEN)
    print(f"{len(WRITTEN)} fixtures written to {HERE}: {total} bytes")


if __name__ == "__main__":
    main()
