"""The stack the deployed suite runs against: with --stack (`make test-deployed STACK=<name>`), that stack
in --region with --profile's credentials, skipped when there are no credentials or no such stack; without
it, the local stack, of which the suite is handed only the emulator's endpoint URL, region and the stack's
name. Either way the suite finds everything else through DescribeStacks (tests/support/deployed.py)."""

from collections.abc import Iterator

import pytest

from tests.support.deployed import DeployedStack, Endpoint, StackUnavailable

#: the local stack's provider takes 10 images per 10 s, so the template's SubmissionsPerMinute is 60:
#: the burst drains in seconds, its slots 1.05 s apart (the pacer's 0.5-s grace is small beside them)
LOCAL_LIMIT, LOCAL_WINDOW = 10, 10.0


@pytest.fixture(scope="module")
def endpoint_and_name(request: pytest.FixtureRequest) -> Iterator[tuple[Endpoint, str]]:
    name = request.config.getoption("stack")
    if name:
        region, profile = request.config.getoption("region"), request.config.getoption("profile")
        yield Endpoint(region=region or None, profile=profile or None), name
        return
    from cutout_local.stack import LocalStack

    with LocalStack(fast_waits=False, per_minute=LOCAL_LIMIT, window=LOCAL_WINDOW, log_level="INFO") as local:
        assert local.aws is not None
        yield Endpoint(region=local.aws.region, endpoint_url=local.aws.endpoint_url), local.aws.stack_name


@pytest.fixture(scope="module")
def stack(endpoint_and_name: tuple[Endpoint, str]) -> Iterator[DeployedStack]:
    """The stack as DescribeStacks describes it; this run's uploads and outputs are removed afterwards."""
    endpoint, name = endpoint_and_name
    try:
        described = DeployedStack.describe(endpoint, name)
    except StackUnavailable as exc:
        pytest.skip(f"skipped: {exc}")
    yield described
    described.remove_uploads()
