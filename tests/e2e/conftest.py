"""The whole local stack: the real template.yaml and ASL on emulated AWS, the local provider with the
real engine. Waits are instant but recorded (LocalAws ``fast_waits``) except where a test needs real
time to pass (the deadline). The pipeline and its factory are in tests/support/pipeline.py."""

import pytest

from tests.support.pipeline import pipeline_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline():
    with pipeline_stack() as pipeline:
        yield pipeline


@pytest.fixture(autouse=True)
def no_faults_left(request):
    yield
    if "pipeline" in request.fixturenames:
        request.getfixturevalue("pipeline").stack.provider.faults.reset()
