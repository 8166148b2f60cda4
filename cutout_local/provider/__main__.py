"""Command line: `python -m cutout_local.provider --api-key sk_local_... [options]` (see `--help`)."""

import argparse
import inspect
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .config import ProviderConfig
from .faults import Faults
from .model import MODEL_HOME_ENV, ModelError
from .server import LocalProvider

KEYS_ENV = "CUTOUT_PROVIDER_API_KEYS"
DEFAULT = " (default: %(default)s)"


def parse_args(argv: list[str] | None = None) -> tuple[ProviderConfig, Faults, str]:
    """The provider's settings, initial faults and log level from the command line."""
    defaults = ProviderConfig(api_keys=("unused",))
    p = argparse.ArgumentParser(
        prog="python -m cutout_local.provider",
        description="A Novita-compatible background-removal API on this machine (rembg, U²-Net-p).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Fault fields (for --faults and POST /_local/faults):\n"
        + inspect.cleandoc(Faults.__doc__ or ""),
    )
    p.add_argument("--host", default=defaults.host, help="address to listen on" + DEFAULT)
    p.add_argument(
        "--port", type=int, default=defaults.port, help="port to listen on, 0 for any free port" + DEFAULT
    )
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        help=f"accepted Bearer key; repeat for several (default: comma-separated ${KEYS_ENV}, "
        "which keeps keys out of the process list)",
    )
    p.add_argument("--public-url", help="base of the result URLs (default: http://<host>:<port>)")
    p.add_argument(
        "--rate-limit",
        type=int,
        default=defaults.rate_limit_per_minute,
        help="accepted submissions per API key in any window of --rate-window seconds" + DEFAULT,
    )
    p.add_argument(
        "--rate-window", type=float, default=defaults.rate_window_seconds, help="seconds" + DEFAULT
    )
    p.add_argument("--no-retry-after", action="store_true", help="send 429s without a Retry-After header")
    p.add_argument("--workers", type=int, default=defaults.workers, help="task worker threads" + DEFAULT)
    p.add_argument(
        "--model", default=defaults.model, help="rembg model; only u2netp is provisioned offline" + DEFAULT
    )
    p.add_argument(
        "--model-home", type=Path, help=f"model folder (default: ${MODEL_HOME_ENV} or .cache/models)"
    )
    p.add_argument(
        "--image-url-ttl",
        type=int,
        default=defaults.image_url_ttl,
        help="seconds a result URL stays valid" + DEFAULT,
    )
    p.add_argument("--ttl-as-string", action="store_true", help='send image_url_ttl as "3600", not 3600')
    p.add_argument(
        "--max-input-bytes",
        type=int,
        default=defaults.max_input_bytes,
        help="input size cap, bytes" + DEFAULT,
    )
    p.add_argument("--max-pixels", type=int, default=defaults.max_pixels, help="input pixel cap" + DEFAULT)
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=defaults.connect_timeout,
        help="seconds, input fetch" + DEFAULT,
    )
    p.add_argument(
        "--read-timeout", type=float, default=defaults.read_timeout, help="seconds, input fetch" + DEFAULT
    )
    p.add_argument("--results-dir", type=Path, help="where cutouts are kept (default: a temporary folder)")
    p.add_argument(
        "--faults",
        default="{}",
        help='initial faults as JSON, e.g. \'{"eta_mode": "noisy", "submit_429_rate": 0.1}\' '
        "(fields: see cutout_local.provider.faults.Faults; change them later with POST /_local/faults)",
    )
    p.add_argument("--no-preload", action="store_true", help="load the model on the first task, not at start")
    p.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level" + DEFAULT,
    )
    args = p.parse_args(argv)

    keys = tuple(args.api_key) or tuple(k for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip())
    if not keys:
        p.error(f"give at least one --api-key (or set {KEYS_ENV})")
    try:
        faults = Faults(**json.loads(args.faults))
        config = ProviderConfig(
            api_keys=keys,
            host=args.host,
            port=args.port,
            public_url=args.public_url,
            rate_limit_per_minute=args.rate_limit,
            rate_window_seconds=args.rate_window,
            retry_after=not args.no_retry_after,
            workers=args.workers,
            model=args.model,
            model_home=args.model_home,
            image_url_ttl=args.image_url_ttl,
            image_url_ttl_as_string=args.ttl_as_string,
            max_input_bytes=args.max_input_bytes,
            max_pixels=args.max_pixels,
            connect_timeout=args.connect_timeout,
            read_timeout=args.read_timeout,
            results_dir=args.results_dir,
            preload_engine=not args.no_preload,
        )
    except (ValueError, TypeError) as e:
        p.error(str(e))
    return config, faults, args.log_level


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGINT or SIGTERM."""
    config, faults, log_level = parse_args(argv)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        provider = LocalProvider(config, faults=faults).start()
    except (OSError, ModelError) as e:
        sys.exit(f"error: {e}")
    try:
        stopping.wait()
    finally:
        provider.stop()


if __name__ == "__main__":
    main()
