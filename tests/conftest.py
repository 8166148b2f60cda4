"""Test taxonomy (see README "Tests"):
- tests/unit        pure logic of the shared package, no network;
- tests/template    static checks of template.yaml and the ASL, security properties;
- tests/build       the layer as its build (layers/common/Makefile) makes it: bytecode, platforms, packages;
- tests/functional  each handler against emulated AWS (moto server) and the local provider over HTTP;
- tests/local_stack the local stack's own parts: the Novita-compatible provider (and the engine's
                    quality), the deploy of a SAM template into moto (and a canary for every moto patch);
- tests/e2e         the whole local stack: real template, real state machine, real engine;
- tests/deployed    the end-to-end scenarios through AWS APIs only, against a deployed stack (--stack) or,
                    by default, the local stack's endpoint.
Their shared support (events, images, the Lambda context, the template's environment, the functional
world, the pipeline, the deployed stack's view) is the package tests/support.
"""

import os

from tests.support.template_env import function_env

# Powertools reads these when cutout.observability is first imported: give every test the values the
# template sets, and keep X-Ray off (there is no daemon here).
_TEMPLATE_ENV = function_env()
for _name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
    os.environ.setdefault(_name, _TEMPLATE_ENV[_name])
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def pytest_addoption(parser):
    """The deployed suite's target (tests/deployed; `make test-deployed STACK=<name>`): without --stack, it
    runs against the local stack."""
    group = parser.getgroup("deployed", "the deployed suite (tests/deployed)")
    group.addoption(
        "--stack", help="run tests/deployed against this deployed stack (default: the local stack)"
    )
    group.addoption(
        "--region", help="the stack's region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)"
    )
    group.addoption("--profile", help="the AWS profile whose credentials to use (default: the environment's)")
