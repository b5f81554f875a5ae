"""Picture copies of letters, made at run time for the OCR benchmark (never committed: they hold letter text).

Two styles, each seeded so a run is repeatable:

* **scanner**: the page rendered at the scan's resolution (300, 200 or 150 dpi), grey, turned by up
  to ±2°, a little blur, sensor noise, dust specks, and saved as an image-only PDF (Flate);
* **phone**: the page rendered at 150 dpi (the page's width is ~1,275 px of the photo), lit unevenly
  (a falloff from one corner to the other, 55-100% of full light), laid on a darker table with a
  perspective of up to 6% of the page per corner, turned by up to ±3°, blurred (σ 0.6-1.1 px), noisy,
  saved as JPEG (quality 70-85), and those JPEGs put into an image-only PDF.

`python benchmarks/ocr_images.py LETTER.pdf OUT.pdf --style phone --dpi 150 --seed 1` makes one copy.
"""

from __future__ import annotations

import argparse
import io
import random
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageFilter

from imr_llm.ocr import _perspective_coeffs


def render_pages(pdf: Path | bytes, dpi: int) -> list[Image.Image]:
    doc = pdfium.PdfDocument(pdf if isinstance(pdf, bytes) else str(pdf))
    try:
        return [doc[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for i in range(len(doc))]
    finally:
        doc.close()


def scanner_page(page: Image.Image, rng: random.Random) -> Image.Image:
    angle = rng.uniform(-2.0, 2.0)
    img = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.6)))
    a = np.asarray(img, dtype=np.float32)
    nrng = np.random.default_rng(rng.randrange(2**32))
    a = a * rng.uniform(0.88, 0.97) + rng.uniform(4, 14)  # paper not quite white, ink not quite black
    a += nrng.normal(0, rng.uniform(5, 10), a.shape)
    specks = nrng.random(a.shape) < 0.0004
    a[specks] = nrng.uniform(0, 90, int(specks.sum()))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def phone_page(page: Image.Image, rng: random.Random) -> Image.Image:
    w, h = page.size
    nrng = np.random.default_rng(rng.randrange(2**32))
    # uneven light: a linear falloff in a random direction
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(theta) * xx / w + np.sin(theta) * yy / h)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    light = 1.0 - rng.uniform(0.25, 0.45) * ramp
    a = np.asarray(page, dtype=np.float32) * light
    # on a table: margin around the page, darker and textured
    m = int(0.08 * w)
    table = nrng.normal(rng.uniform(60, 110), 12, (h + 2 * m, w + 2 * m)).astype(np.float32)
    table[m:m + h, m:m + w] = a
    canvas = Image.fromarray(np.clip(table, 0, 255).astype(np.uint8))
    # perspective: move each page corner by up to 6% of the page
    cw, ch = canvas.size
    src = [(m, m), (m + w, m), (m + w, m + h), (m, m + h)]
    dst = [(x + rng.uniform(-0.06, 0.06) * w, y + rng.uniform(-0.06, 0.06) * h) for x, y in src]
    coeffs = _perspective_coeffs(dst, src)  # maps output (photo) points to input (canvas) points
    photo = canvas.transform((cw, ch), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor=80)
    photo = photo.rotate(rng.uniform(-3, 3), resample=Image.Resampling.BICUBIC, fillcolor=80)
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.1)))
    b = np.asarray(photo, dtype=np.float32) + nrng.normal(0, rng.uniform(3, 7), (ch, cw))
    photo = Image.fromarray(np.clip(b, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=rng.randint(70, 85))
    return Image.open(io.BytesIO(buf.getvalue()))


def picture_copy(pdf: Path | bytes, style: str, dpi: int, seed: int) -> bytes:
    """An image-only PDF of `pdf` in `style` ("scanner" or "phone") at `dpi`."""
    rng = random.Random(seed)
    pages = render_pages(pdf, dpi)
    make = scanner_page if style == "scanner" else phone_page
    images = [make(p, rng) for p in pages]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=float(dpi))
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("letter", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--style", choices=["scanner", "phone"], default="scanner")
    ap.add_argument("--dpi", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.out.write_bytes(picture_copy(args.letter, args.style, args.dpi, args.seed))


if __name__ == "__main__":
    main()
