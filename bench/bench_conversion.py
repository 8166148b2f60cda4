"""ConvertFunction memory and time: ``cutout.conversion.to_png`` on photographs of 16 megapixels (the
default MAX_INPUT_MEGAPIXELS, Novita's limit) and 40 megapixels (a stack that raised it), as HEIC, TIFF
(JPEG-compressed, as scanners and cameras write it), WebP and AVIF, each in a fresh interpreter.

Each input is made here (a smooth scene with fine noise, like a photograph: it neither compresses to
nothing nor is pure noise) and written to a temporary file. The converter (this script with
``--convert``) imports cutout.conversion (Pillow, pillow-heif, Powertools: what ConvertFunction's cold
start loads), reads the file into memory (as ConvertFunction holds the upload's body), then converts it.
Figures: its peak resident memory over the whole run (VmHWM: what Lambda reports as Max Memory Used, less
the runtime's own few MB), and the growth during the conversion alone (VmHWM, reset through
/proc/self/clear_refs just before, less the resident memory just before). The MemorySize of
ConvertFunction in template.yaml is chosen from these peaks: 1024 MB holds the 40-megapixel ones twice
over (Lambda also gives CPU in proportion to memory: about 0.6 vCPU at 1024 MB). Target: every
16-megapixel conversion peaks under TARGET_PEAK_MB, half that MemorySize (the rest for the boto3 client,
its buffers as it sends the PNG, and the runtime).

Run: .venv/bin/python bench/bench_conversion.py   (last line: the figures as JSON; exit 1 if the target is
missed)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import child_figures, print_header

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

SIZES = {16: (4896, 3264), 40: (7744, 5163)}  # 3:2, 15.98 MP and 39.98 MP
# (format as admission names it, Pillow's writer, its options, the sizes measured)
CASES = [
    ("heic", "HEIF", {"quality": 85}, (16, 40)),
    ("tiff", "TIFF", {"compression": "jpeg", "quality": 90}, (16, 40)),
    ("webp", "WEBP", {"quality": 85}, (16,)),
    ("avif", "AVIF", {"quality": 70, "speed": 9}, (16,)),
]
TARGET_PEAK_MB = 512  # half of ConvertFunction's MemorySize (1024 MB)


def scene(width: int, height: int) -> Any:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(13)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 90 * np.sin(x / 211.0) * np.cos(y / 173.0),
            128 + 80 * np.cos(x / 97.0 + y / 331.0),
            128 + 70 * np.sin((x + y) / 419.0),
        ],
        axis=-1,
    )
    noisy = base + rng.normal(0, 6, base.shape).astype(np.float32)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"/proc/self/status has no {field}")


def convert(path: str, fmt: str) -> dict[str, Any]:
    """The child: import, read, then convert, measuring as the module's docstring says."""
    from cutout.conversion import to_png

    data = Path(path).read_bytes()
    before = status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    started = time.perf_counter()
    converted = to_png(data, fmt, max_megapixels=100)
    seconds = time.perf_counter() - started
    return {
        "peak_rss_mb": round(status_mb("VmHWM"), 1),
        "growth_mb": round(status_mb("VmHWM") - before, 1),
        "before_mb": round(before, 1),
        "seconds": round(seconds, 2),
        "input_mb": round(len(data) / 1e6, 1),
        "png_mb": round(len(converted.body) / 1e6, 1),
    }


def main() -> int:
    import pillow_heif

    # HEIC written as iPhones write it: a grid of 512-pixel tiles (a single HEVC picture of 40 MP is past
    # what HEVC's levels allow, and libde265 does not decode it).
    pillow_heif.register_heif_opener(grid_tile_size=512)
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "cutout"}
    figures: dict[str, Any] = {"target_peak_mb": TARGET_PEAK_MB, "cases": {}}
    print_header(
        f"{'input':18} {'input MB':>8} {'PNG MB':>7} {'seconds':>8} {'growth MB':>10} {'peak MB':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-conversion-") as scratch:
        for megapixels in SIZES:
            image = scene(*SIZES[megapixels])
            for fmt, writer, options, sizes in CASES:
                if megapixels not in sizes:
                    continue
                path = Path(scratch) / f"{megapixels}mp.{fmt}"
                image.save(path, writer, **options)
                row = child_figures(
                    [sys.executable, __file__, "--convert", str(path), fmt],
                    env,
                    timeout=600,
                    failure=f"converting {path.name} failed",
                )
                name = f"{megapixels} MP {fmt.upper()}"
                figures["cases"][name] = row
                print(
                    f"{name:18} {row['input_mb']:>8} {row['png_mb']:>7} {row['seconds']:>8} "
                    f"{row['growth_mb']:>10} {row['peak_rss_mb']:>8}"
                )
    misses = [
        n
        for n, row in figures["cases"].items()
        if n.startswith("16 ") and row["peak_rss_mb"] > TARGET_PEAK_MB
    ]
    figures["ok"] = not misses
    print(
        ("\nPASS" if not misses else "\nMISS") + f"  every 16 MP conversion peaks under {TARGET_PEAK_MB} MB"
    )
    print(json.dumps({"bench": "conversion", **figures}))
    return 0 if not misses else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--convert"]:
        print(json.dumps(convert(sys.argv[2], sys.argv[3])))
    else:
        sys.exit(main())
