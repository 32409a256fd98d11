#!/usr/bin/env python3
"""Goldens of the image-synthesis primitives, from PyTorch (inputs included, seeded).

    python3 Tests/Golden/make_synthesis_golden.py

Writes Tests/Golden/synthesis/signals.safetensors:
  irfft2_in_{w}     half spectra [2, 3, 6, w//2+1, 2] for w = 7 and 8 (not Hermitian anywhere)
  irfft2_out_{w}    torch.fft.irfft2(complex(in), s=(6, w), norm="ortho"), [2, 3, 6, w]
  irfft2_grad_{w}   d sum(out * weight) / d in, weight = irfft2_weight_{w}
  rfft2_in          images [2, 3, 6, 7];  rfft2_out: torch.fft.rfft2(norm="ortho") as (re, im) pairs
  grid_in           images [2, 3, 9, 11];  grid_theta [2, 2, 3] (a rotation + scale + shift each)
  grid_out          grid_sample(in, affine_grid(theta, [2, 3, 8, 10], align_corners=False),
                    mode="bilinear", padding_mode="zeros", align_corners=False)
  grid_grad         d sum(out * grid_weight) / d in
  crop_in           images [3, 3, 9, 11];  crop_theta [3, 2, 3]: scale and shift only (MACO's crops,
                    one partly outside the image, one zooming out), the separable resampling path
  crop_out          grid_sample as for grid_out, to [3, 3, 7, 8];  crop_grad: d sum(out * crop_weight) / d in
  fourier_scale     Lucid's 1 / max(sqrt(fy^2 + fx^2), 1/max(h, w)) for h = 6, w = 7 (decay 1)
  decorrelated      Lucid's colour decorrelation of rfft2_in (matrix / its largest column norm)
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthesis", "signals.safetensors")


def grid_sample_case(name, n, theta, height, width):
    """NAME_in [n, 3, 9, 11], NAME_theta, NAME_out (bilinear grid_sample, zeros outside,
    align_corners=False, to height x width), NAME_weight and NAME_grad = d sum(out * weight) / d in."""
    x = torch.randn(n, 3, 9, 11, requires_grad=True)
    grid = F.affine_grid(theta, [n, 3, height, width], align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    weight = torch.randn_like(y)
    (y * weight).sum().backward()
    return {f"{name}_in": x.detach(), f"{name}_theta": theta, f"{name}_out": y.detach(),
            f"{name}_weight": weight, f"{name}_grad": x.grad}


def main():
    torch.manual_seed(0)
    out = {}
    for w in (7, 8):
        spectrum = torch.randn(2, 3, 6, w // 2 + 1, 2, requires_grad=True)
        image = torch.fft.irfft2(torch.view_as_complex(spectrum), s=(6, w), norm="ortho")
        weight = torch.randn_like(image)
        (image * weight).sum().backward()
        out[f"irfft2_in_{w}"], out[f"irfft2_out_{w}"] = spectrum.detach(), image.detach()
        out[f"irfft2_weight_{w}"], out[f"irfft2_grad_{w}"] = weight, spectrum.grad

    images = torch.randn(2, 3, 6, 7)
    out["rfft2_in"] = images
    out["rfft2_out"] = torch.view_as_real(torch.fft.rfft2(images, norm="ortho")).contiguous()

    thetas = []
    for angle, scale, tx, ty in ((0.3, 1.1, 0.05, -0.1), (-0.17, 0.8, -0.2, 0.15)):
        c, s = math.cos(angle) / scale, math.sin(angle) / scale
        thetas.append([[c, -s, tx], [s, c, ty]])
    out.update(grid_sample_case("grid", 2, torch.tensor(thetas), 8, 10))

    fy = np.fft.fftfreq(6)[:, None]
    fx = np.fft.rfftfreq(7)[None, :]
    out["fourier_scale"] = torch.tensor(1.0 / np.maximum(np.sqrt(fx * fx + fy * fy), 1.0 / 7))

    m = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
    m = m / np.max(np.linalg.norm(m, axis=0))
    flat = images.permute(0, 2, 3, 1) @ torch.tensor(m).T
    out["decorrelated"] = flat.permute(0, 3, 1, 2).contiguous()

    out.update(grid_sample_case("crop", 3, torch.tensor([[[0.27, 0.0, 0.5], [0.0, 0.29, -0.6]],
                                                          [[0.3, 0.0, 0.9], [0.0, 0.3, -0.85]],
                                                          [[1.4, 0.0, 0.1], [0.0, 1.2, -0.2]]]), 7, 8))

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, {k: v.detach().float() for k, v in out.items()})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
