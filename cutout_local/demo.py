"""`make demo`: six sample photos (and one file that only pretends to be a photo) through the real
template on the local stack; cutouts, failure records, a contact sheet and a summary in ./out/."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from cutout_local.samples import sample_photos
from cutout_local.stack import LocalStack

THUMB_HEIGHT = 240
NOT_A_PHOTO = b"This is a text file that only pretends to be a JPEG.\n"


def run_demo(out_dir: Path, *, timeout: float = 300.0) -> dict[str, Any]:
    uploads = {f"uploads/{name}": path.read_bytes() for name, path in sample_photos().items()}
    uploads["uploads/not-a-photo.jpg"] = NOT_A_PHOTO
    out_dir.mkdir(parents=True, exist_ok=True)
    print("Starting the local stack (emulated AWS + local Novita-compatible provider)...", flush=True)
    with LocalStack() as stack:
        outputs = stack.outputs
        print(f"  input bucket  s3://{outputs['InputBucketName']}/uploads/")
        print(f"  output bucket s3://{outputs['OutputBucketName']}/")
        print(f"Uploading {len(uploads)} files...", flush=True)
        started = time.monotonic()
        for key, body in uploads.items():
            stack.upload(key, body)
        outcomes = _follow(stack, list(uploads), started, timeout)
        wall = time.monotonic() - started
        results = _download(stack, outcomes, out_dir)
    sheet = out_dir / "contact-sheet.png"
    contact_sheet(uploads, results).save(sheet)
    summary = _summary(results, wall)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _print_summary(summary, out_dir, sheet)
    return summary


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
                    mark = "✓" if kind == "cutout" else "✗"
                    print(
                        f"  [{len(outcomes)}/{len(keys)}] {mark} {name} → {target}  ({seconds:.1f} s)",
                        flush=True,
                    )
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
            body = s3.get_object(Bucket=bucket, Key=_cutout_key(name))["Body"].read()
            path = out_dir / Path(_cutout_key(name)).name
            path.write_bytes(body)
            results[key] = {"outcome": "cutout", "file": str(path), "seconds": round(seconds, 2), "png": body}
        else:
            record = json.loads(s3.get_object(Bucket=bucket, Key=f"failures/{key}.json")["Body"].read())
            (out_dir / "failures").mkdir(exist_ok=True)
            (out_dir / "failures" / f"{name}.json").write_text(
                json.dumps(record, indent=2, ensure_ascii=False)
            )
            results[key] = {"outcome": "failure", "error": record["error"], "reason": record["reason"]}
            results[key]["seconds"] = round(seconds, 2)
    return results


def contact_sheet(uploads: dict[str, bytes], results: dict[str, dict[str, Any]]) -> Image.Image:
    """Each original beside its cutout on a checkerboard (or beside the failure reason)."""
    rows = []
    for key, body in uploads.items():
        result = results[key]
        try:
            original = _thumb(Image.open(io.BytesIO(body)).convert("RGB"))
        except OSError:
            original = _text_tile("(not an image)", (THUMB_HEIGHT, THUMB_HEIGHT))
        if result["outcome"] == "cutout":
            cutout = _thumb(Image.open(io.BytesIO(result["png"])).convert("RGBA"))
            right = checkerboard(cutout.size)
            right.alpha_composite(cutout)
        else:
            right = _text_tile(f"failure: {result['error']}\n{result['reason']}", original.size)
        row = Image.new("RGB", (original.width + right.width + 30, THUMB_HEIGHT + 30), "white")
        row.paste(original, (10, 20))
        row.paste(right.convert("RGB"), (original.width + 20, 20))
        ImageDraw.Draw(row).text((10, 4), key.removeprefix("uploads/"), fill="black")
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
    }


def _print_summary(summary: dict[str, Any], out_dir: Path, sheet: Path) -> None:
    print()
    print(
        f"{summary['images']} files, {summary['succeeded']} cutouts, {len(summary['failed'])} failure records"
    )
    for failure in summary["failed"]:
        print(f"  failed: {failure['key']}: {failure['error']}: {failure['reason']}")
    print(f"{summary['seconds_total']} s in all, {summary['seconds_per_image']} s per file")
    print(f"Cutouts in {out_dir}/, contact sheet {sheet}, summary {out_dir / 'summary.json'}")
