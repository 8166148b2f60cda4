"""Sample photos that installed packages ship (scikit-image, matplotlib): nothing is downloaded."""

from __future__ import annotations

from pathlib import Path


def sample_photos() -> dict[str, Path]:
    """Six real photos: name -> file."""
    import matplotlib
    import skimage

    skimage_data = Path(skimage.__file__).parent / "data"
    mpl_data = Path(matplotlib.get_data_path()) / "sample_data"
    photos = {
        "astronaut.png": skimage_data / "astronaut.png",
        "chelsea.png": skimage_data / "chelsea.png",
        "coffee.png": skimage_data / "coffee.png",
        "rocket.jpg": skimage_data / "rocket.jpg",
        "motorcycle.png": skimage_data / "motorcycle_left.png",
        "grace_hopper.jpg": mpl_data / "grace_hopper.jpg",
    }
    missing = [str(path) for path in photos.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"sample photos not found: {missing}")
    return photos
