"""Shared by the golden scripts: a minimal safetensors writer (no safetensors package needed)."""
import json
import struct


def write_safetensors(path, tensors, dtype="F32"):
    """8-byte little-endian header length, the JSON header (padded to 8 bytes), then each
    tensor's raw little-endian data; dtype "F32" or "F16"."""
    numpy_type = {"F32": "<f4", "F16": "<f2"}[dtype]
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype(numpy_type).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for b in blobs:
            f.write(b)
