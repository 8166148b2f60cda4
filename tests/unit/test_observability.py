"""The tracer is made on first use, once, and traces only the AWS SDK."""

from unittest import mock

import pytest

import cutout.observability as observability


@pytest.fixture
def fresh_module():
    """The module as at cold start: no tracer made yet. Afterwards the tracer made here (a mock) is
    dropped and the one before, if any, put back: left behind, it would decorate every handler that a
    later test in the same process imports."""
    before = observability.__dict__.pop("tracer", None)
    yield observability
    observability.__dict__.pop("tracer", None)
    if before is not None:
        observability.__dict__["tracer"] = before


def test_the_tracer_is_made_once_on_first_import(fresh_module):
    with mock.patch("aws_lambda_powertools.Tracer") as tracer_class:
        from cutout.observability import tracer as first
        from cutout.observability import tracer as second
    assert first is second is tracer_class.return_value
    tracer_class.assert_called_once_with(patch_modules=("botocore",))


def test_importing_the_module_makes_no_tracer(fresh_module):
    assert "tracer" not in vars(fresh_module)


def test_other_missing_names_are_an_attribute_error(fresh_module):
    with pytest.raises(AttributeError) as missing:
        fresh_module.tracr  # noqa: B018 - the access is the test
    assert str(missing.value) == "module 'cutout.observability' has no attribute 'tracr'"
    with pytest.raises(ImportError):
        from cutout.observability import tracr  # noqa: F401
