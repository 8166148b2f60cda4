"""The default engine against exact ground truth: a real RGBA cutout (matplotlib's gift box, with its own
soft alpha) composited onto several backgrounds, so the true matte of every scene is known."""

import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import skimage.data
from PIL import Image

from cutout_local.provider import Engine
from tests.local_stack.provider.provider_helpers import alpha_of
from tests.support.images import encode

SIZE = 1000
BOX = 576  # the 128 px gift box × 4.5

BACKGROUNDS = {
    "white": lambda: Image.new("RGB", (SIZE, SIZE), "white"),
    "grass": lambda: Image.fromarray(skimage.data.grass()).convert("RGB"),
    "brick": lambda: Image.fromarray(skimage.data.brick()).convert("RGB"),
    "rocket": lambda: Image.fromarray(skimage.data.rocket()).convert("RGB"),
}


def composite(background: Image.Image) -> tuple[bytes, np.ndarray]:
    """The scene as PNG bytes and its true alpha in [0, 1]."""
    box = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "Minduka_Present_Blue_Pack.png")
    box = box.convert("RGBA").resize((BOX, BOX), Image.Resampling.LANCZOS)
    scene = background.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    corner = ((SIZE - BOX) // 2, (SIZE - BOX) // 2)
    scene.paste(box, corner, box)
    truth = np.zeros((SIZE, SIZE))
    truth[corner[1] : corner[1] + BOX, corner[0] : corner[0] + BOX] = np.asarray(box)[..., 3] / 255
    return encode(scene, "PNG"), truth


@pytest.mark.parametrize("name", BACKGROUNDS)
def test_the_engine_recovers_the_true_matte(engine, name):
    scene, truth = composite(BACKGROUNDS[name]())
    cutout = engine.remove(scene)
    alpha = alpha_of(cutout) / 255
    assert Image.open(io.BytesIO(cutout)).size == (SIZE, SIZE)
    iou = ((alpha > 0.5) & (truth > 0.5)).sum() / ((alpha > 0.5) | (truth > 0.5)).sum()
    mae = np.abs(alpha - truth).mean()
    assert iou >= 0.9, f"{name}: IoU {iou:.3f}"
    assert mae <= 0.03, f"{name}: mean absolute alpha error {mae:.4f}"


def test_an_engine_held_to_one_thread_runs_on_one_and_cuts_out_the_same(engine):
    one = Engine(home=engine.home, threads=1)
    scene, truth = composite(BACKGROUNDS["grass"]())
    alpha = alpha_of(one.remove(scene)) / 255
    assert one._session.inner_session.get_session_options().intra_op_num_threads == 1
    assert engine._session.inner_session.get_session_options().intra_op_num_threads == 0  # one per core
    assert np.abs(alpha - alpha_of(engine.remove(scene)) / 255).max() <= 2 / 255
    assert np.abs(alpha - truth).mean() <= 0.03
