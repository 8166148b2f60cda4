"""The one place logger, metrics and tracer are made. Service name, namespace and level come from the
POWERTOOLS_* variables set in the template's Globals.

The tracer is made on first import (``from cutout.observability import tracer``), not with the module:
creating it loads the X-Ray SDK and patches botocore, a cost paid at every cold start. Lambda's active
tracing (``Tracing: Active``) already records each invocation, its init and its errors, linked to the
Step Functions trace, and the logger puts the trace id on every line; the tracer adds a subsegment per
AWS SDK call. So only the functions whose time goes into several AWS calls import it (Submit, Send,
WriteResult); CheckStatus (one provider call) and RecordFailure (one PutObject) do without."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider


class _EmfProvider(AmazonCloudWatchEMFProvider):
    """Powertools' CloudWatch EMF provider, except that an invocation that counted nothing flushes
    nothing without a warning. Every handler is decorated with ``@metrics.log_metrics``, and many
    invocations rightly count nothing (a poll of a task still running, an upload that needs no conversion);
    Powertools would print nothing for them either, but warns "No application metrics to publish" each
    time. ``raise_on_empty_metrics`` still raises."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if self.metric_set or raise_on_empty_metrics:
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


logger = Logger()
metrics = Metrics()
metrics.provider = _EmfProvider(
    metric_set=metrics.metric_set,
    dimension_set=metrics.dimension_set,
    metadata_set=metrics.metadata_set,
    default_dimensions=metrics.default_dimensions,
)

# The only library traced: boto3/botocore (urllib3 2 bypasses the X-Ray SDK's http.client patch).
TRACED_MODULES = ("botocore",)


def __getattr__(name: str) -> Any:
    """``tracer``, made once on first access (PEP 562)."""
    if name != "tracer":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from aws_lambda_powertools import Tracer

    tracer = Tracer(patch_modules=TRACED_MODULES)
    globals()["tracer"] = tracer
    return tracer
