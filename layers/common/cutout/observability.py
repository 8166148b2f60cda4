"""The one place logger, tracer and metrics are made. Service name, namespace and level come from the
POWERTOOLS_* variables set in the template's Globals."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
