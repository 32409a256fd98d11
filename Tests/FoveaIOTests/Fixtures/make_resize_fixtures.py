#!/usr/bin/env python3
"""Regenerates the PIL resize golden fixtures used by Tests/FoveaIOTests/ImageTests.swift.

Run from this directory:  python3 make_resize_fixtures.py
Writes a deterministic synthetic 61x47 RGB source (gradient + seeded noise + hard-edged
blocks that make bicubic overshoot and clip), an RGBA variant (alpha ramp including 0 and
255), and PIL.Image.resize results for the cases listed in CASES. File names encode the
case: <source>_<filter>_<width>x<height>.png. It also writes tiny decoder fixtures
(format_*.png / format_*.jpg) in PNG and JPEG layouts our encoder never produces, each
PNG one with its PIL RGBA/L rendering as the expected result. Only PIL is needed.
"""
import random

from PIL import Image

W, H = 61, 47
CASES = [
    # (source, filter name, width, height)
    ("rgb", "bicubic", 23, 17),   # downscale ~2.7x (antialiased, wide support)
    ("rgb", "bilinear", 23, 17),
    ("rgb", "bicubic", 72, 55),   # upscale ~1.18x
    ("rgb", "bilinear", 72, 55),
    ("rgb", "bicubic", 29, 71),   # non-uniform: shrink x, stretch y
    ("rgb", "bilinear", 29, 71),
    ("rgb", "bicubic", 61, 20),   # vertical pass only
    ("rgb", "nearest", 37, 53),
    ("rgba", "bicubic", 23, 17),  # premultiplied-alpha path
    ("rgba", "bilinear", 72, 55),
]
FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}


def clamp(v):
    return max(0, min(255, v))


def make_sources():
    rng = random.Random(20240611)
    rgb = Image.new("RGB", (W, H))
    alpha = Image.new("L", (W, H))
    for y in range(H):
        for x in range(W):
            r = x * 4 + rng.randint(-4, 4)
            g = y * 5 + rng.randint(-4, 4)
            b = 255 - (x + y) * 2 + rng.randint(-4, 4)
            if 20 <= x < 30 and 10 <= y < 22:   # white block
                r = g = b = 255
            if 40 <= x < 47 and 28 <= y < 40:   # black block
                r = g = b = 0
            rgb.putpixel((x, y), (clamp(r), clamp(g), clamp(b)))
            a = 0 if x < 6 else 255 if x > 50 else clamp((x - 6) * 6 + rng.randint(-4, 4))
            alpha.putpixel((x, y), a)
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    return {"rgb": rgb, "rgba": rgba}


def make_format_fixtures():
    rng = random.Random(7)
    size = (13, 9)
    rgba = Image.new("RGBA", size)
    rgba.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256),
                   rng.choice([0, 90, 255])) for _ in range(size[0] * size[1])])
    # palette with a transparent entry (tRNS chunk) -> decoded as RGBA
    palette = rgba.convert("RGB").quantize(colors=7)
    palette.info["transparency"] = 2
    palette.save("format_palette.png", transparency=2)
    Image.open("format_palette.png").convert("RGBA").save("format_palette_expected.png")
    # gray + alpha -> decoded as RGBA with gray replicated
    la = rgba.convert("LA")
    la.save("format_la.png")
    la.convert("RGBA").save("format_la_expected.png")
    # 1-bit gray -> decoded as gray 0/255
    bits = rgba.convert("L").point(lambda v: 255 if v > 127 else 0).convert("1")
    bits.save("format_1bit.png")
    bits.convert("L").save("format_1bit_expected.png")
    # 16-bit gray written by PIL (mode I;16); the test knows these values
    deep = Image.new("I;16", (4, 2))
    deep.putdata([0, 1, 258, 65535, 300, 4000, 50000, 7])
    deep.save("format_gray16.png")
    # JPEG layouts: grayscale, progressive RGB, CMYK (must be rejected clearly)
    gradient = Image.linear_gradient("L").resize((24, 16))
    gradient.save("format_gray.jpg", quality=90)
    Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient)).save(
        "format_progressive.jpg", quality=90, progressive=True)
    Image.new("CMYK", (8, 8), (10, 20, 30, 40)).save("format_cmyk.jpg")


def main():
    make_format_fixtures()
    sources = make_sources()
    for name, image in sources.items():
        image.save(f"resize_src_{name}.png", optimize=True)
    for source, filt, w, h in CASES:
        out = sources[source].resize((w, h), FILTERS[filt])
        out.save(f"resize_{source}_{filt}_{w}x{h}.png", optimize=True)


if __name__ == "__main__":
    main()
