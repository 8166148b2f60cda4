"""`make demo`: six sample photos (one of them a HEIC, as phones save them) and one file that only
pretends to be a photo through the real template on the local stack, two of the photos asking for a
second variant in their metadata (a WebP cropped to the subject on a colour, the mask alone); cutouts,
variants, failure records, a contact sheet and a summary in ./out/."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pillow_heif
from PIL import Image, ImageDraw

from cutout_local.console import outcome_line, plural
from cutout_local.samples import sample_photos
from cutout_local.stack import LocalStack

THUMB_HEIGHT = 240
NOT_A_PHOTO = b"This is a text file that only pretends to be a JPEG.\n"
#: Output options some uploads ask for in their user metadata (README, "Output options").
OPTIONS = {
    "uploads/rocket.jpg": {
        "cutout-variants": "full,card",
        "cutout-card.format": "webp",
        "cutout-card.background": "#ffd54f",
        "cutout-card.crop": "subject",
        "cutout-card.margin": "8%",
    },
    "uploads/chelsea.png": {"cutout-variants": "full,mask", "cutout-mask.channels": "alpha"},
}


def run_demo(out_dir: Path, *, timeout: float = 300.0) -> dict[str, Any]:
    uploads = {f"uploads/{name}": path.read_bytes() for name, path in sample_photos().items()}
    # as a phone saves it: converted to PNG for the provider, which reads PNG and JPEG only
    uploads["uploads/grace_hopper.heic"] = as_heic(uploads.pop("uploads/grace_hopper.jpg"))
    uploads["uploads/not-a-photo.jpg"] = NOT_A_PHOTO
    out_dir.mkdir(parents=True, exist_ok=True)
    print("Starting the local stack (emulated AWS + local Novita-compatible provider)...", flush=True)
    with LocalStack(provider={"preload_engine": True}) as stack:
        outputs = stack.outputs
        print(f"  input bucket  s3://{outputs['InputBucketName']}/uploads/")
        print(f"  output bucket s3://{outputs['OutputBucketName']}/")
        print(f"Uploading {len(uploads)} files...", flush=True)
        started = time.monotonic()
        s3 = stack.client("s3")
        for key, body in uploads.items():
            metadata = OPTIONS.get(key, {})
            s3.put_object(Bucket=outputs["InputBucketName"], Key=key, Body=body, Metadata=metadata)
        outcomes = _follow(stack, list(uploads), started, timeout)
        wall = time.monotonic() - started
        results = _download(stack, outcomes, out_dir)
        assert stack.aws is not None
        (out_dir / "functions.log").write_text("".join(line + "\n" for line in stack.aws.function_logs))
    sheet = out_dir / "contact-sheet.png"
    contact_sheet(uploads, results).save(sheet)
    summary = _summary(results, wall)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _print_summary(summary, out_dir, sheet)
    return summary


def as_heic(jpeg: bytes) -> bytes:
    """The photo re-encoded as HEIC (pillow-heif), its colour profile kept."""
    pillow_heif.register_heif_opener()
    image = Image.open(io.BytesIO(jpeg))
    buffer = io.BytesIO()
    image.save(buffer, "HEIF", quality=85, icc_profile=image.info.get("icc_profile"))
    return buffer.getvalue()


def _follow(
    stack: LocalStack, keys: list[str], started: float, timeout: float
) -> dict[str, tuple[str, float]]:
    """Watch the output bucket until every upload has a cutout or a failure record; print each as it lands."""
    s3 = stack.client("s3")
    bucket = stack.outputs["OutputBucketName"]
    outcomes: dict[str, tuple[str, float]] = {}
    while len(outcomes) < len(keys):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"no outcome after {timeout:.0f} s for {sorted(set(keys) - set(outcomes))}")
        listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
        for key in keys:
            if key in outcomes:
                continue
            name = key.removeprefix("uploads/")
            for kind, target in (("cutout", _cutout_key(name)), ("failure", f"failures/{key}.json")):
                if target in listed:
                    seconds = time.monotonic() - started
                    outcomes[key] = (kind, seconds)
                    line = outcome_line(
                        name,
                        [target],
                        failed=kind == "failure",
                        seconds=seconds,
                        progress=(len(outcomes), len(keys)),
                    )
                    print(line, flush=True)
        time.sleep(0.2)
    return outcomes


def _cutout_key(name: str) -> str:
    return "cutouts/" + name.rsplit(".", 1)[0] + ".png"


def _download(
    stack: LocalStack, outcomes: dict[str, tuple[str, float]], out_dir: Path
) -> dict[str, dict[str, Any]]:
    s3 = stack.client("s3")
    bucket = stack.outputs["OutputBucketName"]
    results: dict[str, dict[str, Any]] = {}
    for key, (kind, seconds) in outcomes.items():
        name = key.removeprefix("uploads/")
        if kind == "cutout":
            response = s3.get_object(Bucket=bucket, Key=_cutout_key(name))
            body = response["Body"].read()
            path = out_dir / Path(_cutout_key(name)).name
            path.write_bytes(body)
            results[key] = {"outcome": "cutout", "file": str(path), "seconds": round(seconds, 2), "png": body}
            results[key]["variants"] = _variants(s3, bucket, name, response["Metadata"], out_dir)
        else:
            record = json.loads(s3.get_object(Bucket=bucket, Key=f"failures/{key}.json")["Body"].read())
            (out_dir / "failures").mkdir(exist_ok=True)
            (out_dir / "failures" / f"{name}.json").write_text(
                json.dumps(record, indent=2, ensure_ascii=False)
            )
            results[key] = {"outcome": "failure", "error": record["error"], "reason": record["reason"]}
            results[key]["seconds"] = round(seconds, 2)
    return results


def _variants(s3: Any, bucket: str, name: str, metadata: dict[str, str], out_dir: Path) -> dict[str, bytes]:
    """The cutout's other variants (its metadata lists them: ``card.webp``), each saved beside it."""
    variants = {}
    for entry in metadata.get("variants", "").split():
        variant, _, extension = entry.partition(".")
        key = f"variants/{variant}/{name.rsplit('.', 1)[0]}.{extension}"
        variants[key] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        (out_dir / f"{Path(name).stem}.{variant}.{extension}").write_bytes(variants[key])
    return variants


def contact_sheet(uploads: dict[str, bytes], results: dict[str, dict[str, Any]]) -> Image.Image:
    """Each original beside its cutout on a checkerboard and its other variants (or beside the failure
    reason)."""
    rows = []
    for key, body in uploads.items():
        result = results[key]
        try:
            original = _thumb(Image.open(io.BytesIO(body)).convert("RGB"))
        except OSError:
            original = _text_tile("(not an image)", (THUMB_HEIGHT, THUMB_HEIGHT))
        tiles = [original]
        if result["outcome"] == "cutout":
            for body in (result["png"], *result["variants"].values()):
                cutout = _thumb(Image.open(io.BytesIO(body)).convert("RGBA"))
                tile = checkerboard(cutout.size)
                tile.alpha_composite(cutout)
                tiles.append(tile)
        else:
            tiles.append(_text_tile(f"failure: {result['error']}\n{result['reason']}", original.size))
        row = Image.new("RGB", (sum(t.width + 10 for t in tiles) + 10, THUMB_HEIGHT + 30), "white")
        x = 10
        for tile in tiles:
            row.paste(tile.convert("RGB"), (x, 20))
            x += tile.width + 10
        label = key.removeprefix("uploads/")
        if result.get("variants"):
            label += f"  (+ {', '.join(result['variants'])})"
        ImageDraw.Draw(row).text((10, 4), label, fill="black")
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height
    return sheet


def checkerboard(size: tuple[int, int], square: int = 12) -> Image.Image:
    board = Image.new("RGBA", size, (255, 255, 255, 255))
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], square):
        for x in range((y // square) % 2 * square, size[0], 2 * square):
            draw.rectangle((x, y, x + square - 1, y + square - 1), fill=(204, 204, 204, 255))
    return board


def _thumb(image: Image.Image) -> Image.Image:
    width = max(1, round(image.width * THUMB_HEIGHT / image.height))
    return image.resize((width, THUMB_HEIGHT), Image.Resampling.LANCZOS)


def _text_tile(text: str, size: tuple[int, int]) -> Image.Image:
    tile = Image.new("RGBA", size, (255, 240, 240, 255))
    wrapped = "\n".join(text[i : i + 38] for i in range(0, len(text), 38))
    ImageDraw.Draw(tile).multiline_text((8, 8), wrapped, fill=(160, 0, 0, 255))
    return tile


def _summary(results: dict[str, dict[str, Any]], wall: float) -> dict[str, Any]:
    cutouts = {k: v for k, v in results.items() if v["outcome"] == "cutout"}
    return {
        "images": len(results),
        "succeeded": len(cutouts),
        "failed": [
            {"key": k, "error": v["error"], "reason": v["reason"]}
            for k, v in results.items()
            if v["outcome"] == "failure"
        ],
        "seconds_total": round(wall, 2),
        "seconds_per_image": round(wall / len(results), 2),
        "seconds_to_outcome": {k: v["seconds"] for k, v in results.items()},
        "cutouts": {k: v["file"] for k, v in cutouts.items()},
        "variants": {k: sorted(v["variants"]) for k, v in cutouts.items() if v["variants"]},
    }


def _print_summary(summary: dict[str, Any], out_dir: Path, sheet: Path) -> None:
    print()
    failures = plural(len(summary["failed"]), "failure record")
    print(f"{plural(summary['images'], 'file')}, {plural(summary['succeeded'], 'cutout')}, {failures}")
    for failure in summary["failed"]:
        print(f"  failed: {failure['key']}: {failure['error']}: {failure['reason']}")
    print(f"{summary['seconds_total']} s in all, {summary['seconds_per_image']} s per file")
    print(f"Cutouts in {out_dir}/, contact sheet {sheet}, summary {out_dir / 'summary.json'}")
    print(f"The functions' log lines: {out_dir / 'functions.log'}")
