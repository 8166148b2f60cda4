"""Settings of the local provider, validated once."""

from dataclasses import dataclass
from pathlib import Path

from .image_io import DEFAULT_MAX_PIXELS, FORMATS


@dataclass(frozen=True)
class ProviderConfig:
    """How the local provider listens, limits, fetches and answers.

    api_keys: accepted Bearer keys (each gets its own rate-limit window and stats).
    host, port: where to listen; port 0 picks a free port.
    public_url: base of the result URLs handed out (default `http://<host>:<port>`).
    rate_limit_per_minute: accepted submissions (async + sync) allowed per key in any sliding window
        of `rate_window_seconds` (the name follows the provider's "10 images per minute"; tests
        shorten the window).
    retry_after: whether a 429 carries a `Retry-After` header (the real provider may not send one).
    workers: task worker threads (inference itself runs one at a time).
    model: rembg model name; only "u2netp" is provisioned offline.
    model_home: model folder (default `CUTOUT_MODEL_HOME` or `<repo>/.cache/models`).
    image_url_ttl: seconds a result URL stays valid after the task completes.
    image_url_ttl_as_string: send `image_url_ttl` as "3600" instead of 3600 (the provider does both).
    max_input_bytes, max_pixels, input_formats: input limits (default 30 MiB, 16 MiP, JPEG/PNG: Novita's).
    connect_timeout, read_timeout: seconds, for fetching the input image.
    results_dir: where cutouts are kept until they expire (default: a temporary folder per start).
    initial_eta_seconds: the task duration assumed for `eta` until one has been measured.
    preload_engine: load the model in `start()` rather than on the first task.
    engine_threads: onnxruntime's threads for one inference (0: one per core, its default). The real
      provider runs on machines of its own; on one small machine shared with the local AWS side, 1 leaves
      the functions a core (the end-to-end benchmark's setting).
    """

    api_keys: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8088
    public_url: str | None = None
    rate_limit_per_minute: int = 10
    rate_window_seconds: float = 60.0
    retry_after: bool = True
    workers: int = 1
    model: str = "u2netp"
    model_home: Path | None = None
    image_url_ttl: int = 3600
    image_url_ttl_as_string: bool = False
    max_input_bytes: int = 30 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    input_formats: tuple[str, ...] = FORMATS
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    results_dir: Path | None = None
    initial_eta_seconds: float = 1.0
    preload_engine: bool = False
    engine_threads: int = 0

    def __post_init__(self) -> None:
        if not self.api_keys or not all(isinstance(k, str) and k.strip() for k in self.api_keys):
            raise ValueError("api_keys: give at least one non-empty API key")
        positive = {
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "rate_window_seconds": self.rate_window_seconds,
            "workers": self.workers,
            "image_url_ttl": self.image_url_ttl,
            "max_input_bytes": self.max_input_bytes,
            "max_pixels": self.max_pixels,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "initial_eta_seconds": self.initial_eta_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.engine_threads < 0:
            raise ValueError(f"engine_threads must be >= 0, got {self.engine_threads}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        unknown = set(self.input_formats) - set(FORMATS)
        if not self.input_formats or unknown:
            raise ValueError(f"input_formats must be a non-empty subset of {FORMATS}")
