"""Helpers shared by the local provider's tests (a module, not conftest, so tests can import it)."""

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import skimage.data
import urllib3
from PIL import Image

from cutout_local.provider import LocalProvider, ProviderConfig
from tests.support.images import encode, png16

KEY = "sk_local_test_0123456789"
OTHER_KEY = "sk_local_other_9876543210"
TERMINAL = ("TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BASE_CONFIG = ProviderConfig(api_keys=(KEY, OTHER_KEY), port=0, rate_limit_per_minute=1000)
BAND = 16  # rows at the top of the transparent `odd_inputs`


def gift_box_scene(size: int = 320) -> Image.Image:
    """Matplotlib's gift box (a real RGBA cutout) pasted on skimage's grass: a clear subject."""
    box, corner = _gift_box(size)
    scene = Image.fromarray(skimage.data.grass()).convert("RGB").resize((size, size * 3 // 4))
    scene.paste(box, corner, box)
    return scene


def gift_box_matte(size: int = 320) -> np.ndarray:
    """Where the gift box of `gift_box_scene(size)` is (its alpha above one half), as booleans."""
    box, (left, top) = _gift_box(size)
    matte = np.zeros((size * 3 // 4, size), dtype=bool)
    matte[top : top + box.height, left : left + box.width] = np.asarray(box)[..., 3] > 127
    return matte


def _gift_box(size: int) -> tuple[Image.Image, tuple[int, int]]:
    box = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "Minduka_Present_Blue_Pack.png")
    box = box.convert("RGBA").resize((size * 6 // 10,) * 2, Image.Resampling.LANCZOS)
    return box, ((size - box.width) // 2, (size * 3 // 4 - box.height) // 2)


def odd_inputs(scene: Image.Image) -> dict[str, tuple[bytes, Image.Image]]:
    """`scene` as each kind of input whose decoding is easy to get wrong, by file name: (the file, the RGB
    image a viewer shows of it on a white page). The two with transparency hide black under their top
    `BAND` rows, made transparent."""
    grey, palette = scene.convert("L"), scene.quantize(255)
    colours = palette.getpalette()[: 255 * 3]
    palette.putpalette(colours + [0] * (256 * 3 - len(colours)))  # index 255 (and unused ones): black
    palette.paste(255, (0, 0, scene.width, BAND))
    grey_alpha = grey.convert("LA")
    grey_alpha.paste((0, 0), (0, 0, scene.width, BAND))
    full_palette = scene.quantize(256)
    deep_grey = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)  # mode I;16
    return {
        "grey16.png": (encode(deep_grey, "PNG"), grey.convert("RGB")),
        "rgb16.png": (png16(np.asarray(scene).astype(np.uint16) * 257), scene),
        "palette.png": (encode(full_palette, "PNG"), full_palette.convert("RGB")),
        "palette-transparent.png": (encode(palette, "PNG", transparency=255), _white_band(palette)),
        "grey-alpha.png": (encode(grey_alpha, "PNG"), _white_band(grey)),
        "cmyk.jpg": (encode(scene.convert("CMYK"), "JPEG", quality=95), scene),
        "progressive.jpg": (encode(scene, "JPEG", quality=95, progressive=True), scene),
    }


def _white_band(image: Image.Image) -> Image.Image:
    shown = image.convert("RGB")
    shown.paste((255, 255, 255), (0, 0, image.width, BAND))
    return shown


class Api:
    """Raw HTTP calls to one provider, the way a client of Novita makes them."""

    def __init__(self, http: urllib3.PoolManager, provider: LocalProvider) -> None:
        self.http = http
        self.provider = provider

    def submit(self, image: str, key: str | None = KEY, body: Any = None) -> urllib3.BaseHTTPResponse:
        payload = json.dumps({"image": image} if body is None else body)
        return self.post("/v3/async/image-remove-background", payload, key)

    def post(self, path: str, payload: str | bytes, key: str | None = KEY) -> urllib3.BaseHTTPResponse:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.http.request("POST", self.provider.base_url + path, body=payload, headers=headers)

    def result(self, task_id: str | None, key: str | None = KEY) -> urllib3.BaseHTTPResponse:
        fields = {} if task_id is None else {"task_id": task_id}
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return self.http.request(
            "GET", self.provider.base_url + "/v3/async/task-result", fields=fields, headers=headers
        )

    def sync(
        self, image: bytes, image_type: str | None = None, key: str | None = KEY
    ) -> urllib3.BaseHTTPResponse:
        body: dict[str, Any] = {"image_file": base64.b64encode(image).decode()}
        if image_type is not None:
            body["extra"] = {"response_image_type": image_type}
        return self.post("/v3/remove-background", json.dumps(body), key)

    def get(self, url: str, **options: Any) -> urllib3.BaseHTTPResponse:
        return self.http.request("GET", url, **options)

    def task_id(self, image: str, key: str = KEY) -> str:
        response = self.submit(image, key)
        assert response.status == 200, response.data
        return response.json()["task_id"]

    def wait(self, task_id: str, timeout: float = 20.0, seen: list[str] | None = None) -> dict[str, Any]:
        """Poll until the task is finished; `seen` collects every status observed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.result(task_id).json()
            if seen is not None:
                seen.append(body["task"]["status"])
            if body["task"]["status"] in TERMINAL:
                return body
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} not finished after {timeout} s")


def alpha_of(png: bytes) -> np.ndarray:
    """The alpha channel of an RGBA PNG (asserting that it is one)."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    return np.asarray(image)[..., 3]
