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

logger = Logger()
metrics = Metrics()

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
