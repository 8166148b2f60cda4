"""The tracer is made on first use, once, and traces only the AWS SDK; metrics are published when an
invocation counted something, and nothing (no warning either) when it did not."""

import json
import warnings
from unittest import mock

import pytest
from aws_lambda_powertools.metrics.exceptions import SchemaValidationError

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


@pytest.fixture
def no_metrics():
    """No metric left over from another test (the set is shared and flushed only by ``log_metrics``)."""
    observability.metrics.clear_metrics()
    yield
    observability.metrics.clear_metrics()


def _handler(count: bool, **decorator: bool):
    @observability.metrics.log_metrics(**decorator)
    def handler(event, context):
        if count:
            observability.metrics.add_metric(name="ImagesAdmitted", unit="Count", value=1)

    return handler


def test_an_invocation_that_counted_nothing_publishes_nothing_and_does_not_warn(no_metrics, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _handler(count=False)({}, None)
    assert capsys.readouterr().out == ""


def test_an_invocation_that_counted_publishes_its_metrics(no_metrics, capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.setattr(observability.metrics.provider, "namespace", "Cutout")
    _handler(count=True)({}, None)
    emf = json.loads(capsys.readouterr().out)
    assert emf["ImagesAdmitted"] == [1.0]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Cutout"


def test_raise_on_empty_metrics_still_raises(no_metrics):
    with pytest.raises(SchemaValidationError):
        _handler(count=False, raise_on_empty_metrics=True)({}, None)
