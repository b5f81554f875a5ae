"""OCR: pages that are pictures (a scanned PDF page, a photo, a faxed TIFF) → text, with the engine's
confidence in each word. Tesseract (LSTM, English) through `tesserocr`, one engine kept per process;
the machine needs only the system packages in PACKAGES. README, "Scanned and photographed letters",
and BENCHMARKS.md, "OCR", have the measurements behind each step of `prepare` and `read_page`:
scale to about RENDER_DPI, straighten a photographed page, divide out uneven light, deskew,
recognise, re-read a low-confidence page turned by OSD, and refuse one still unreadable."""

from __future__ import annotations

import glob
import io
import os
import threading
from dataclasses import dataclass, field

from .errors import InputTooLarge, OcrUnavailable, PageTooBlurry, UnreadableImage
from .schema import OcrPage as PageRecord
from .schema import OcrReading as ReadingRecord

# numpy, Pillow and tesserocr are imported where used: a letter without picture pages never needs them.

ENGINE = "tesseract"
LANGUAGE = "eng"
# PDF pages are rendered at this resolution for OCR, and photos and low-resolution scans are scaled
# to about it (IMR_LLM_OCR_DPI sets both, for measuring; BENCHMARKS.md, "OCR", has the choice)
RENDER_DPI = TARGET_DPI = int(os.environ.get("IMR_LLM_OCR_DPI") or 200)
LETTER_WIDTH_IN = 8.5  # a US letter page: gives a photo's resolution from the page's width in pixels
MAX_IMAGE_PIXELS = 60_000_000  # one page image (a 600-dpi letter page is 34 Mpx); more is refused
LOW_CONFIDENCE = 80.0  # a decision word or case number read below this (0-100) is a warning
BLURRY_CONFIDENCE = 70.0  # a page with ink whose mean word confidence stays under this is refused (clean pages: 90-96)
OSD_BELOW = 75.0  # orientation is checked only when a page's first reading is less sure than this
PACKAGES = "tesseract-ocr tesseract-ocr-eng"


@dataclass
class OcrPage:
    """One page read by OCR."""

    page: int  # 1-based page number in the letter
    text: str
    confidence: float  # mean word confidence, 0-100 (Tesseract's)
    words: list[tuple[int, int, float]] = field(default_factory=list)  # (start, end, confidence) in `text`
    dpi: int | None = None  # the resolution the page was read at
    steps: list[str] = field(default_factory=list)  # the preprocessing applied, in order


@dataclass
class OcrReading:
    """Which pages of a letter were read by OCR, and where their words are in the letter's raw text."""

    engine_version: str
    wrapper: str
    pages: list[OcrPage]
    page_starts: dict[int, int] = field(default_factory=dict)  # page number → offset of its text in `raw`
    pages_total: int = 0
    seconds: float = 0.0

    def confidence(self, start: int, end: int) -> float | None:
        """The lowest confidence of the OCR words overlapping raw span [start, end), None when none is OCR'd."""
        starts = self.page_starts
        return min((conf for page in self.pages if (base := starts.get(page.page)) is not None
                    and base < end and start < base + len(page.text)
                    for s, e, conf in page.words if s + base < end and e + base > start), default=None)


class _Engine:
    def __init__(self, tessdata: str) -> None:
        import tesserocr  # deferred: see the module note

        self.tesserocr = tesserocr
        self.tessdata = tessdata
        self.api = tesserocr.PyTessBaseAPI(path=tessdata, lang=LANGUAGE, psm=tesserocr.PSM.AUTO,
                                           oem=tesserocr.OEM.LSTM_ONLY)
        self.api.SetVariable("tessedit_do_invert", "0")  # letters are dark on light: skip the inverted pass
        self.osd = None
        self.lock = threading.Lock()
        first = tesserocr.tesseract_version().split()
        self.version = first[1] if len(first) > 1 else "unknown"
        self.wrapper = f"tesserocr {getattr(tesserocr, '__version__', '?')}"

    def read(self, image, dpi: int) -> tuple[str, list[tuple[str, float]]]:
        """The page's text and its words with their confidences, in reading order."""
        level = self.tesserocr.RIL.WORD
        with self.lock:
            self.api.SetImage(image)
            self.api.SetSourceResolution(int(dpi))
            self.api.Recognize()
            text = self.api.GetUTF8Text()
            words: list[tuple[str, float]] = []
            it = self.api.GetIterator()
            if it is not None:
                for w in self.tesserocr.iterate_level(it, level):
                    try:
                        word = w.GetUTF8Text(level)
                    except RuntimeError:  # "No text returned": an empty word box
                        continue
                    if word and word.strip():
                        words.append((word, float(w.Confidence(level))))
            self.api.Clear()
        return text, words

    def orientation(self, image) -> int:
        """Degrees the page is turned clockwise (0, 90, 180, 270) by Tesseract's OSD, 0 when unsure."""
        if not os.path.exists(os.path.join(self.tessdata, "osd.traineddata")):
            return 0
        with self.lock:
            if self.osd is None:
                self.osd = self.tesserocr.PyTessBaseAPI(path=self.tessdata, lang="osd",
                                                        psm=self.tesserocr.PSM.OSD_ONLY)
            self.osd.SetImage(image)
            try:
                found = self.osd.DetectOrientationScript()
            except RuntimeError:
                found = None
            self.osd.Clear()
        if not found or found.get("orient_conf", 0) < 2.0:
            return 0
        return int(found.get("orient_deg", 0)) % 360


_ENGINE: _Engine | None = None
_ENGINE_LOCK = threading.Lock()


def tessdata_dir() -> str | None:
    """The folder holding Tesseract's English data: IMR_LLM_TESSDATA, TESSDATA_PREFIX, or the system's."""
    candidates: list[str] = []
    for var in ("IMR_LLM_TESSDATA", "TESSDATA_PREFIX"):
        value = os.environ.get(var)
        if value:
            candidates += [value, os.path.join(value, "tessdata")]
    candidates += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    candidates += ["/usr/share/tessdata", "/usr/share/tesseract/tessdata", "/usr/local/share/tessdata",
                   "/opt/homebrew/share/tessdata", "/opt/local/share/tessdata"]
    return next((f for f in candidates if os.path.isfile(os.path.join(f, f"{LANGUAGE}.traineddata"))), None)


def engine(name: str = "<letter>") -> _Engine:
    """The process's engine, started on first use. Raises `OcrUnavailable` with one line saying what to install."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            try:
                import tesserocr  # noqa: F401  (deferred: is the engine installed?)
            except ImportError:
                raise OcrUnavailable(
                    f"{name}: has pages that are pictures, and the OCR engine is not installed: "
                    f"pip install tesserocr, and install the system packages {PACKAGES}") from None
            folder = tessdata_dir()
            if folder is None:
                raise OcrUnavailable(
                    f"{name}: has pages that are pictures, and Tesseract is not installed: install the system "
                    f"packages {PACKAGES} (e.g. apt-get install {PACKAGES})")
            try:
                _ENGINE = _Engine(folder)
            except RuntimeError as exc:
                raise OcrUnavailable(f"{name}: Tesseract could not start ({exc}); reinstall the system "
                                     f"packages {PACKAGES}") from None
    return _ENGINE


def available() -> bool:
    """Whether OCR can run here (the engine and the English data are installed)."""
    try:
        engine()
    except OcrUnavailable:
        return False
    return True


def page_count(data: bytes) -> int:
    """How many pages an image file holds, from its header (no page is decoded); 1 for a file Pillow
    cannot open (`open_images` says what is wrong with it)."""
    from PIL import Image  # deferred: see the module note

    try:
        with Image.open(io.BytesIO(data)) as img:
            return getattr(img, "n_frames", 1)
    except Exception:
        return 1


def open_images(data: bytes, name: str) -> list:
    """An image file's pages as Pillow images, each with its recorded dpi (or None) in `info["imr_dpi"]`
    (the page limit is checked before, by `page_count`)."""
    from PIL import Image, ImageOps  # deferred: see the module note

    Image.MAX_IMAGE_PIXELS = None  # checked here, with our own message
    pages = []
    try:
        img = Image.open(io.BytesIO(data))
        for index in range(getattr(img, "n_frames", 1)):
            img.seek(index)
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise InputTooLarge(f"{name}: page {index + 1} is {img.width}x{img.height} pixels, over the limit "
                                    f"of {MAX_IMAGE_PIXELS:,}; scan at 300 dpi")
            frame = ImageOps.exif_transpose(img) if index == 0 else img.copy()
            frame.load()
            dpi = img.info.get("dpi")
            frame.info["imr_dpi"] = float(dpi[0]) if isinstance(dpi, tuple) and dpi and dpi[0] else None
            pages.append(frame)
    except InputTooLarge:
        raise
    except Exception:
        suffix = os.path.splitext(name)[1].lower().lstrip(".")
        kind = f".{suffix}" if suffix else "picture"
        raise UnreadableImage(f"{name}: a {kind} image that cannot be opened (corrupt or truncated)") from None
    return pages


_MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg", b"II*\x00": "tiff", b"MM\x00*": "tiff"}


def image_kind(data: bytes) -> str | None:
    """'png', 'jpeg' or 'tiff' from the file's first bytes, None for anything else."""
    return next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None)


def prepare(image, dpi: float | None):
    """A page ready for recognition: (grey image, the dpi it now has, steps applied)."""
    import numpy as np  # deferred: see the module note
    from PIL import Image  # deferred: see the module note

    steps: list[str] = []
    g = image.convert("L") if image.mode != "L" else image
    if dpi is None or dpi < 50:
        dpi = g.width / LETTER_WIDTH_IN  # no resolution recorded: the picture is taken to be the page
    if dpi > 1.4 * TARGET_DPI:
        f = TARGET_DPI / dpi
        g = g.resize((max(1, round(g.width * f)), max(1, round(g.height * f))), Image.Resampling.LANCZOS)
        dpi = TARGET_DPI
    quad = _page_quad(g)
    if quad is not None:
        g = _straighten(g, quad)
        steps.append("perspective")
        dpi = g.width / LETTER_WIDTH_IN
    if dpi < 0.85 * TARGET_DPI:
        f = TARGET_DPI / dpi
        g = g.resize((round(g.width * f), round(g.height * f)), Image.Resampling.BICUBIC)
        steps.append(f"scaled from {round(dpi)} dpi")
        dpi = TARGET_DPI
    g, flattened = _flatten(g)
    if flattened:
        steps.append("contrast")
    angle = _skew_angle(np.asarray(g))
    if abs(angle) >= 0.2:
        g = g.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
        steps.append(f"deskew {angle:+.1f}°")
    return g, int(round(dpi)), steps


def has_ink(image) -> bool:
    """Whether a page shows anything (a blank page is not read)."""
    import numpy as np  # deferred: see the module note

    small = image.convert("L").reduce(4) if min(image.size) >= 64 else image.convert("L")
    a = np.asarray(small, dtype=np.int16)
    if not a.size:
        return False
    paper = float(np.percentile(a, 99))
    return float((a < paper - 50).mean()) > 0.0005  # darker than the page's own paper: ink, however faint


def _flatten(g):
    """Divide the page by its background (paper shade and uneven light), stretch the ink to black."""
    import numpy as np  # deferred: see the module note
    from PIL import Image, ImageFilter  # deferred: see the module note

    k = 8
    small = g.reduce(k) if min(g.size) >= 8 * k else g
    bg = small.filter(ImageFilter.MaxFilter(7)).filter(ImageFilter.GaussianBlur(4))
    b = np.asarray(bg, dtype=np.float32)
    spread = float(np.percentile(b, 95) - np.percentile(b, 5))
    paper = float(np.median(b))
    if spread < 12 and paper > 235:
        return g, False  # already flat white paper: leave the page as it is
    bg_full = np.asarray(bg.resize(g.size, Image.Resampling.BILINEAR), dtype=np.float32)
    a = np.asarray(g, dtype=np.float32)
    out = a / np.maximum(bg_full, 1.0) * 255.0
    ink = float(np.percentile(out, 1))
    if ink < 200:
        out = (out - ink) * (255.0 / max(255.0 - ink, 1.0))
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)), True


def _skew_angle(a) -> float:
    """The page's skew in degrees (counter-clockwise positive, as PIL's rotate takes it), 0.0 when unsure."""
    import numpy as np  # deferred: see the module note

    step = max(1, a.shape[1] // 900)
    small = a[::step, ::step]
    ys, xs = np.nonzero(small < 110)
    if len(ys) < 500 or small.shape[0] < 50:
        return 0.0
    if len(ys) > 120_000:
        pick = np.random.default_rng(0).choice(len(ys), 120_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    ys = ys.astype(np.float32)
    xs = xs.astype(np.float32) - small.shape[1] / 2

    def score(deg: float) -> float:
        t = np.deg2rad(deg)
        rows = (ys * np.cos(t) + xs * np.sin(t)).astype(np.int32)
        hist = np.bincount(rows - rows.min(), minlength=1).astype(np.float64)
        return float((hist ** 2).sum())

    best = 0.0
    for half, step in ((6.0, 0.5), (0.5, 0.1)):  # coarse, then fine around the coarse best
        grid = np.arange(best - half, best + half + 0.01, step)
        best = float(grid[int(np.argmax([score(d) for d in grid]))])
    return round(-best, 2)


def _page_quad(g):
    """The corners (tl, tr, br, bl) of a page lying on a darker background; None for a scan."""
    import numpy as np  # deferred: see the module note
    from PIL import ImageFilter  # deferred: see the module note

    f = max(1, max(g.size) // 500)
    small = g.reduce(f) if f > 1 else g
    small = small.filter(ImageFilter.MedianFilter(5))
    a = np.asarray(small, dtype=np.float32)
    h, w = a.shape
    border = np.concatenate([a[:3].ravel(), a[-3:].ravel(), a[:, :3].ravel(), a[:, -3:].ravel()])
    centre = a[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    paper = float(np.percentile(centre, 90))
    table = float(np.median(border))
    if paper - table < 50:
        return None  # the border is as light as the page: a scan, or a page filling the photo
    # paper vs. table: threshold halfway, ink filled by a maximum filter
    mask_img = small.point(lambda v: 255 if v > (paper + table) / 2 else 0)
    mask_img = mask_img.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.MinFilter(5))
    mask = np.asarray(mask_img) > 0
    if mask.mean() > 0.97 or mask.mean() < 0.3:
        return None
    ys, xs = np.nonzero(mask)
    s, d = xs + ys, xs - ys
    corners = [(xs[np.argmin(s)], ys[np.argmin(s)]), (xs[np.argmax(d)], ys[np.argmax(d)]),
               (xs[np.argmax(s)], ys[np.argmax(s)]), (xs[np.argmin(d)], ys[np.argmin(d)])]
    quad = [(float(x) * f + f / 2, float(y) * f + f / 2) for x, y in corners]
    top = np.hypot(quad[1][0] - quad[0][0], quad[1][1] - quad[0][1])
    left = np.hypot(quad[3][0] - quad[0][0], quad[3][1] - quad[0][1])
    if top < 0.3 * g.width or left < 0.3 * g.height:
        return None
    return quad


def _straighten(g, quad):
    """The page inside `quad` as a rectangle of the page's own proportions."""
    import numpy as np  # deferred: see the module note
    from PIL import Image  # deferred: see the module note

    tl, tr, br, bl = (np.array(p) for p in quad)
    out_w = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    out_h = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    coeffs = _perspective_coeffs([(0, 0), (out_w, 0), (out_w, out_h), (0, out_h)], quad)
    return g.transform((out_w, out_h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor=255)


def _perspective_coeffs(out_pts, in_pts) -> list[float]:
    import numpy as np  # deferred: see the module note

    rows, rhs = [], []
    for (x, y), (u, v) in zip(out_pts, in_pts):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.linalg.solve(np.array(rows, dtype=float), np.array(rhs, dtype=float)).tolist()


def read_page(image, page: int, name: str, dpi: float | None = None) -> OcrPage:
    """Recognize one page. Raises `PageTooBlurry` when it shows ink but cannot be read."""
    eng = engine(name)
    if not has_ink(image):
        return OcrPage(page=page, text="", confidence=0.0, dpi=int(dpi) if dpi else None, steps=["blank"])
    g, used_dpi, steps = prepare(image, dpi)
    text, words = eng.read(g, used_dpi)
    conf = _mean(words)
    if conf < OSD_BELOW or len(words) < 5:
        turned = eng.orientation(g)
        if turned:
            g = g.rotate(turned, expand=True, fillcolor=255)  # PIL turns counter-clockwise: undoes a clockwise turn
            text2, words2 = eng.read(g, used_dpi)
            if _mean(words2) > conf:
                text, words, conf = text2, words2, _mean(words2)
                steps.append(f"turned {turned}°")
    if words and conf < BLURRY_CONFIDENCE:
        raise too_blurry(name, [page], conf)
    text = text.replace("\r\n", "\n").rstrip() + "\n" if text.strip() else ""
    if not text:
        steps.append("no words")  # ink, but nothing read: the caller decides (an error when no page was read)
    return OcrPage(page=page, text=text, confidence=round(conf, 1), words=_locate(text, words), dpi=used_dpi,
                   steps=steps)


def too_blurry(name: str, pages: list[int], conf: float | None = None) -> PageTooBlurry:
    which = f"page {pages[0]} is" if len(pages) == 1 else f"pages {', '.join(map(str, pages))} are"
    sure = f" (OCR confidence {conf:.0f}%)" if conf is not None else " (OCR found no words)"
    return PageTooBlurry(f"{name}: {which} too blurry or faint to read{sure}; scan it again, or take the photo "
                         "again flat, in good light, holding the phone still")


def unread_pages(pages: list[OcrPage]) -> list[int]:
    """Pages that show something but where OCR found no word."""
    return [p.page for p in pages if "no words" in p.steps]


def _mean(words: list[tuple[str, float]]) -> float:
    return sum(c for _, c in words) / len(words) if words else 0.0


def _locate(text: str, words: list[tuple[str, float]]) -> list[tuple[int, int, float]]:
    """Each word's span in `text` (the engine prints them in the same order)."""
    out, pos = [], 0
    for word, conf in words:
        at = text.find(word, pos)
        if at >= 0:
            pos = at + len(word)
            out.append((at, pos, round(conf, 1)))
    return out


INCOMPLETE = ("incomplete letter: no disputed item with a decision was found in the pages read by OCR; "
              "what they hold (header, credentials) is given. Add the other pages (--one-letter) to read the decisions")
CUT_OFF = ("incomplete letter: the pages read by OCR end inside the last item (it has no decision rationale); "
           "add the pages that follow (--one-letter)")


def annotate(source, det) -> None:
    """Warnings for a decision word or case number read with low confidence, and `provenance.ocr`."""
    reading: OcrReading = source.ocr  # type: ignore[assignment]
    low: list[str] = []
    for number in unread_pages(reading.pages):
        det.warnings.append(f"page {number}: shows something, but OCR found no words on it (blurred, faint, or a "
                            "picture): check that page of the paper letter")
    if det.items and det.items[-1].rationale is None and INCOMPLETE not in det.warnings:
        det.warnings.append(CUT_OFF)
    checks = [("case_number", det.evidence.get("case_number"))]
    checks += [(f"items[{item.index}].decision", item.evidence.get("decision")) for item in det.items]
    for name, ev in checks:
        conf = reading.confidence(ev.start, ev.end) if ev is not None else None
        if conf is not None and conf < LOW_CONFIDENCE:
            low.append(name)
            det.warnings.append(f"{name}: read from a picture with low confidence ({conf:.0f}%); "
                                "check it against the paper letter")
    record = ReadingRecord(
        engine=ENGINE, engine_version=reading.engine_version, wrapper=reading.wrapper, language=LANGUAGE,
        pages=[PageRecord(page=p.page, mean_confidence=p.confidence, words=len(p.words), dpi=p.dpi, steps=p.steps)
               for p in reading.pages],
        pages_total=reading.pages_total, complete=INCOMPLETE not in det.warnings and CUT_OFF not in det.warnings,
        low_confidence=low)
    if det.provenance is not None:
        det.provenance.ocr = record
