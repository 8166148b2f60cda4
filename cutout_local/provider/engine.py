"""The background-removal engine: a rembg session, loaded once on first use, one inference at a time."""

import os
import threading
from pathlib import Path
from typing import Any, cast

from PIL import Image

from .image_io import DEFAULT_MAX_PIXELS, encode, open_image


class Engine:
    """Removes backgrounds with rembg model `model` (default U²-Net-p, provisioned offline).

    `home` is where model files live (`U2NET_HOME` is pointed there, so rembg finds the provisioned
    u2netp and skips its own download; other models are downloaded by rembg, which needs a network).
    onnxruntime runs without its CPU memory arena (peak RSS of the whole process on a 1 MP image: 540 MB
    instead of 730 MB), and a lock lets one inference run at a time, so memory stays flat whatever the
    number of callers. Its threads do not spin while they wait for work (onnxruntime's default): spinning
    keeps every core busy between operators and between images, which on a small machine is taken from
    the local stack's AWS side (u2netp on 48x32 photos, 2 cores shared: 1.26 s of CPU per image
    spinning, 0.97 s not). `threads`: onnxruntime's threads per inference (0: one per core).
    `U2NET_HOME` is process-wide: give every engine of a process the same `home`.
    """

    def __init__(self, model: str = "u2netp", home: Path | None = None, *, threads: int = 0) -> None:
        # `.model` is imported on use, not by the package, so `python -m cutout_local.provider.model`
        # does not find itself already imported (runpy warns about that).
        from .model import model_home

        self.model = model
        self.home = home or model_home()
        self.threads = threads
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model session exists yet."""
        return self._session is not None

    def load(self) -> None:
        """Create the session now (it is otherwise created by the first call to `cutout`)."""
        with self._lock:
            if self._session is None:
                self._session = self._new_session()

    def _new_session(self) -> Any:
        import onnxruntime as ort
        from rembg import new_session

        from .model import SOURCES, ensure_model

        if self.model in SOURCES:
            ensure_model(self.model, self.home)
        # rembg reads its model folder from this variable each time it resolves a model file.
        os.environ["U2NET_HOME"] = str(self.home)
        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = False
        options.intra_op_num_threads = self.threads  # 0: one per core
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return new_session(self.model, sess_opts=options, providers=["CPUExecutionProvider"])

    def cutout(self, image: Image.Image) -> Image.Image:
        """The RGBA cutout of an RGB image, same size, the predicted matte as its alpha channel."""
        from rembg import remove

        self.load()
        with self._lock:
            # rembg answers in the type it is given: a PIL image here
            return cast(Image.Image, remove(image.copy(), session=self._session, putalpha=True))

    def remove(self, data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
        """JPEG/PNG/WebP bytes in, RGBA PNG bytes out (EXIF orientation applied; raises `InputError`)."""
        return encode(self.cutout(open_image(data, max_pixels=max_pixels)), "png")
