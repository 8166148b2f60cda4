"""WriteResult memory: peak memory growth of the writer process while it copies a provider result of
1 MB, 50 MB and 200 MB into S3, ours (the real WriteResult handler: cutout.results.write_cutout) against
a naive copy (``response.data`` then ``put_object``), measured the same way in the same run.

Three kinds of process, so that only the writer's memory is measured:
- emulated S3 and Secrets Manager: a moto server (`python -m moto.server`), which keeps what it is sent;
- the provider: a small HTTP server (this script with ``--serve``) answering the task-result request
  with a SUCCEED body whose image_url points back at itself, and serving that image as a valid PNG
  header followed by padding, written in 1 MiB pieces (never held whole);
- the writer: a fresh interpreter per measurement (this script with ``--write``) that imports
  functions/write_result/app.py with the template's environment pointed at the two servers (a cold
  start, as Lambda does it), then runs one copy. Its growth is its peak resident memory during the copy
  (VmHWM, reset through /proc/self/clear_refs just before) less its resident memory just before.

MAX_RESULT_BYTES is raised to 256 MiB for the run (the template's default, 100 MiB, refuses the 200 MB
result by design). Target: ours grows by less than 64 MB at every size; the naive copy is shown for
contrast. Each copy is checked in S3 (its size) afterwards.

Then the outputs that options ask for, which cannot stream: ``cutout.rendering.render`` on a 16-MP RGBA
cutout (4618x3464, a subject over 90 % of each side, noisy like a photograph, a few stray specks) with
crop=subject format=webp; beside it the default options through render (PNG) and format=webp without the
crop (the whole frame through the WebP encoder, transparent corners included). Each in a fresh
interpreter (this script with ``--render``) that has imported the module and made an sRGB profile to
embed before it measures. The growth counts the cutout's PNG read into memory (as WriteResult holds the
download) and the render. Target (issue 13, for crop=subject format=webp; every row is held to it, since
WriteResult's memory has to fit the largest): each grows by at most 400 MB.

Run: .venv/bin/python bench/bench_streaming.py   (last line: the figures as JSON; exit 1 if a target is
missed)
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness import child_figures, print_header

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))

from tests.support.template_env import table_definitions, template_functions  # noqa: E402

MB = 1_000_000
MIB = 1024**2
SIZES_MB = (1, 50, 200)
TARGET_GROWTH_MB = 64
MAX_RESULT_BYTES = 256 * MIB
PIECE = MIB
API_KEY = "sk_bench_streaming_0123456789abcdef"
RESULT_PATH = "/results/"
RENDER_SIZE = (4618, 3464)  # 16.0 MP, 4:3, within MAX_INPUT_MEGAPIXELS' default (16)
RENDER_CASES = {"defaults": "", "webp": "format=webp", "crop_webp": "crop=subject format=webp"}  # options
RENDER_TARGET_GROWTH_MB = 400


# --- The provider: task-result answers and streamed results -------------------------------------------


def png_head(width: int = 4096, height: int = 4096) -> bytes:
    """A PNG signature and a valid IHDR chunk (8-bit RGBA)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


class ProviderHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/v3/async/task-result":
            task_id = parse_qs(parts.query)["task_id"][0]
            size = int(task_id.removeprefix("result-"))
            host, port = self.server.server_address[:2]
            body = json.dumps(
                {
                    "task": {"task_id": task_id, "status": "TASK_STATUS_SUCCEED", "reason": "", "eta": 0},
                    "images": [
                        {
                            "image_url": f"http://{host}:{port}{RESULT_PATH}{size}.png?X-Amz-Signature=x",
                            "image_url_ttl": 3600,
                            "image_type": "png",
                        }
                    ],
                }
            ).encode()
            self._answer(200, "application/json", body)
        elif parts.path.startswith(RESULT_PATH):
            self._stream(int(parts.path.removeprefix(RESULT_PATH).removesuffix(".png")))
        else:
            self._answer(404, "application/json", b'{"reason": "NOT_FOUND"}')

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        head = png_head()
        self.wfile.write(head)
        padding = memoryview(bytes(PIECE))
        left = size - len(head)
        while left > 0:
            self.wfile.write(padding[: min(PIECE, left)])
            left -= PIECE

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ProviderHandler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


# --- The writer: one copy in a fresh interpreter ------------------------------------------------------


def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:"))


def write(mode: str, size: int) -> None:
    """Import the real WriteResult handler (cold start), then copy the ``size``-byte result once."""
    import gc

    sys.path[:0] = [str(ROOT / "functions" / "write_result"), str(ROOT / "layers" / "common")]
    app = __import__("app")

    from cutout_local.aws.lambda_runtime import LambdaContext

    task_id = f"result-{size}"
    event = {
        "source": {
            "bucket": app.settings.input_bucket,
            "key": f"uploads/bench-{mode}-{size}.jpg",
            "version_id": "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        },
        "task_id": task_id,
    }
    gc.collect()
    rss_before = status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM to the current resident size
    started = time.perf_counter()
    if mode == "ours":
        written = app.lambda_handler(
            event,
            LambdaContext(
                function_name="cutout-WriteResultFunction",
                memory_limit_in_mb=512,
                aws_request_id="bench-streaming",
            ),
        )
    else:
        result = app.novita.task_result(task_id)
        response = app.http.request("GET", result.images[0].url)
        data = response.data
        key = f"naive/bench-{size}.png"
        app.s3.put_object(Bucket=app.settings.output_bucket, Key=key, Body=data, ContentType="image/png")
        written = {"bucket": app.settings.output_bucket, "key": key, "bytes": len(data)}
    seconds = time.perf_counter() - started
    growth_kb = status_kb("VmHWM") - rss_before
    print(json.dumps({**written, "growth_mb": growth_kb * 1024 / MB, "seconds": seconds}))


# --- Rendering: one render() in a fresh interpreter ---------------------------------------------------


def make_cutout(path: Path) -> int:
    """Write a 16-MP RGBA cutout PNG to ``path`` (its size in bytes): an elliptical subject over 90 % of
    each side, colour gradients with noise (so it compresses like a photograph, not like a flat fill),
    transparent black around it, and a few stray specks in the corners."""
    import numpy as np
    from PIL import Image, ImageDraw

    width, height = RENDER_SIZE
    rng = np.random.default_rng(13)
    rows, columns = np.mgrid[0:height, 0:width]
    pixels = np.empty((height, width, 4), np.uint8)
    pixels[..., 0] = columns * 255 // width
    pixels[..., 1] = rows * 255 // height
    pixels[..., 2] = 128
    pixels[..., :3] = np.clip(pixels[..., :3] + rng.integers(-12, 13, (height, width, 3)), 0, 255)
    mask = Image.new("L", RENDER_SIZE, 0)
    ImageDraw.Draw(mask).ellipse((width * 0.05, height * 0.05, width * 0.95, height * 0.95), fill=255)
    for x, y in ((10, 10), (width - 12, 20), (15, height - 15)):
        mask.putpixel((x, y), 255)
    pixels[..., 3] = np.asarray(mask)
    pixels[pixels[..., 3] == 0, :3] = 0
    Image.fromarray(pixels, "RGBA").save(path, "PNG")
    return path.stat().st_size


def render_once(case: str, path: str) -> None:
    """Import cutout.rendering, then read the cutout and render it once with ``case``'s options."""
    import gc

    sys.path[:0] = [str(ROOT / "layers" / "common")]
    from PIL import ImageCms

    from cutout.options import resolve
    from cutout.rendering import render

    (variant,) = resolve(RENDER_CASES[case], "", "uploads/bench.png", {})
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    gc.collect()
    rss_before = status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    started = time.perf_counter()
    with open(path, "rb") as data:  # as WriteResult renders: from the result spooled to /tmp
        result = render(data, variant.options, icc_profile=profile, max_megapixels=16)
    seconds = time.perf_counter() - started
    growth_kb = status_kb("VmHWM") - rss_before
    print(
        json.dumps(
            {
                "growth_mb": round(growth_kb * 1024 / MB, 1),
                "seconds": round(seconds, 2),
                "output": f"{result.width}x{result.height} {result.content_type}",
                "output_mb": round(len(result.body) / MB, 1),
            }
        )
    )


def measure_rendering() -> tuple[dict[str, Any], float]:
    """Each render case in a fresh interpreter, its figures beside the target, and the cutout's size in
    MB."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "cutout-16mp.png"
        input_mb = make_cutout(path) / MB
        env = {**os.environ, "PYTHONPATH": ""}
        runs = {
            case: child_figures(
                [sys.executable, __file__, "--render", case, str(path)],
                env,
                timeout=300,
                failure=f"render() failed with {case}",
            )
            for case in RENDER_CASES
        }
    for run in runs.values():
        run.update(target_growth_mb=RENDER_TARGET_GROWTH_MB, ok=run["growth_mb"] <= RENDER_TARGET_GROWTH_MB)
    return runs, input_mb


# --- Parent -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the moto server did not start")


def start_provider() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


def main() -> int:
    import boto3

    env = template_functions()["WriteResultFunction"]["env"]
    moto, moto_url = start_moto()
    provider, provider_url = start_provider()
    try:
        aws = {
            "endpoint_url": moto_url,
            "region_name": env["AWS_REGION"],
            "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        }
        s3 = boto3.client("s3", **aws)
        s3.create_bucket(Bucket=env["OUTPUT_BUCKET"])
        boto3.client("dynamodb", **aws).create_table(  # the provider's health (cutout.health)
            TableName=env["RATE_LIMIT_TABLE"], **table_definitions()["RateLimitTable"]
        )
        secret = boto3.client("secretsmanager", **aws).create_secret(Name="novita", SecretString=API_KEY)
        env.update(
            AWS_ENDPOINT_URL=moto_url,
            API_KEY_SECRET_ARN=secret["ARN"],
            PROVIDER_BASE_URL=provider_url,
            RESULT_URL_ALLOWED_HOSTS="127.0.0.1",
            MAX_RESULT_BYTES=str(MAX_RESULT_BYTES),
            POWERTOOLS_TRACE_DISABLED="true",  # no X-Ray daemon here
            PYTHONPATH="",
        )
        figures = {mode: {} for mode in ("ours", "naive")}
        for size_mb in SIZES_MB:
            for mode in figures:
                run = run_writer(mode, size_mb * MB, env)
                stored = s3.head_object(Bucket=run["bucket"], Key=run["key"])["ContentLength"]
                if stored != size_mb * MB:
                    raise SystemExit(f"{mode} {size_mb} MB: S3 holds {stored} bytes, not {size_mb * MB}")
                s3.delete_object(Bucket=run["bucket"], Key=run["key"])
                figures[mode][f"{size_mb}MB"] = {
                    "growth_mb": round(run["growth_mb"], 1),
                    "seconds": round(run["seconds"], 2),
                }
    finally:
        for process in (provider, moto):
            process.terminate()
            process.wait(timeout=10)

    print(f"writer's peak memory growth during one copy (MB = 10^6 bytes), moto S3 at {moto_url}")
    header = f"{'result':>8} {'ours MB':>8} {'naive MB':>9} {'ours s':>7} {'naive s':>8}"
    print_header(header)
    for size_mb in SIZES_MB:
        ours, naive = figures["ours"][f"{size_mb}MB"], figures["naive"][f"{size_mb}MB"]
        print(
            f"{size_mb:>5} MB {ours['growth_mb']:>8} {naive['growth_mb']:>9} "
            f"{ours['seconds']:>7} {naive['seconds']:>8}"
        )
    worst = max(v["growth_mb"] for v in figures["ours"].values())
    ok = worst < TARGET_GROWTH_MB
    print(
        f"\n{'PASS' if ok else 'MISS'}  ours grows < {TARGET_GROWTH_MB} MB at every size (worst {worst} MB)"
    )

    rendering, input_mb = measure_rendering()
    width, height = RENDER_SIZE
    print(
        f"\nrender(): peak memory growth (MB = 10^6 bytes) for a {width * height / MB:.1f}-MP RGBA cutout "
        f"({width}x{height}, PNG {input_mb:.1f} MB, decoded from its file, as WriteResult does)"
    )
    header = f"{'options':<26} {'growth MB':>9} {'target MB':>9} {'s':>6}  output"
    print_header(header)
    for case, text in RENDER_CASES.items():
        run = rendering[case]
        print(
            f"{text or 'defaults (png)':<26} {run['growth_mb']:>9} {run['target_growth_mb']:>9} "
            f"{run['seconds']:>6}  {run['output']}, {run['output_mb']} MB"
        )
    worst_case = max(rendering, key=lambda case: rendering[case]["growth_mb"])
    renders = all(run["ok"] for run in rendering.values())
    print(
        f"\n{'PASS' if renders else 'MISS'}  render() grows <= {RENDER_TARGET_GROWTH_MB} MB with each set of "
        f"options (worst: {RENDER_CASES[worst_case] or 'defaults'}, {rendering[worst_case]['growth_mb']} MB)"
    )
    ok = ok and renders
    print(
        json.dumps(
            {
                "bench": "streaming",
                "target_growth_mb": TARGET_GROWTH_MB,
                "figures": figures,
                "render_target_growth_mb": RENDER_TARGET_GROWTH_MB,
                "render": {"input_mb": round(input_mb, 1), **rendering},
                "ok": ok,
            }
        )
    )
    return 0 if ok else 1


def run_writer(mode: str, size: int, env: dict[str, str]) -> dict[str, Any]:
    return child_figures(
        [sys.executable, __file__, "--write", mode, str(size)],
        env,
        timeout=300,
        failure=f"the {mode} writer failed on {size} bytes",
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    elif sys.argv[1:2] == ["--write"]:
        write(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["--render"]:
        render_once(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
