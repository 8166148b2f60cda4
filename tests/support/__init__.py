"""Test support, in one place: the sample-event loader, the image factory, the Lambda context, the
functions' environment derived from template.yaml, and the pipeline factories. Tests import from here,
never from a conftest module."""
