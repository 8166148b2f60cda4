"""The end-to-end scenarios against a stack, through AWS APIs only (tests/support/deployed.py): by default
against the local stack's endpoint, or against a deployed stack (`make test-deployed STACK=<name>`).

On a deployed stack each image is billed by Novita: a run submits 17 images (and uploads two text files,
which never reach it). The run's uploads are under <InputPrefix>deployed-suite/<time>-<token>/ and are
removed, with their outputs, when it ends."""

import pytest

from cutout_local.provider.ratelimit import max_in_window
from tests.support.deployed import DeployedStack, Outcome
from tests.support.images import photo

pytestmark = pytest.mark.e2e

#: uploads in the burst: more than the default SubmissionsPerMinute (10), so a minute's window of them
#: can overflow; 70 s of slots deployed at 10 a minute, 12 s on the local stack (60 a minute)
BURST = 12
#: the share of the allowed spacing a burst's submissions must span at least (slots are 5 % wider)
PACE_TOLERANCE = 0.9
NOT_AN_IMAGE = b"Dear provider, this is not a photo.\n"


@pytest.fixture(scope="module")
def photo_outcome(stack: DeployedStack) -> Outcome:
    return stack.wait_for_outcome(stack.upload("photo.jpg", photo(320, 240)))


@pytest.fixture(scope="module")
def text_outcome(stack: DeployedStack) -> Outcome:
    return stack.wait_for_outcome(stack.upload("not-a-photo.jpg", NOT_AN_IMAGE))


def test_an_upload_becomes_a_cutout_at_the_documented_key(stack, photo_outcome):
    cutout = photo_outcome.cutout
    assert photo_outcome.execution["status"] == "SUCCEEDED"
    assert photo_outcome.failure is None
    assert photo_outcome.cutout_key == f"{stack.parameters['OutputPrefix']}{stack.run}photo.png"
    assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "RGBA", (320, 240))
    transparent, opaque = cutout.getchannel("A").getextrema()
    assert transparent < opaque  # a background removed around a subject kept
    assert len(photo_outcome.submissions) == 1


def test_a_file_that_is_not_an_image_ends_as_a_failure_record_that_says_why(stack, text_outcome):
    key = stack.key("not-a-photo.jpg")
    assert text_outcome.execution is None  # turned away at admission: never sent to the provider
    assert text_outcome.cutout is None
    assert text_outcome.failure_key == f"{stack.parameters['FailurePrefix']}{key}.json"
    assert text_outcome.failure["source"]["key"] == key
    assert text_outcome.failure["error"] == "UnsupportedInputError"
    assert "not an image" in text_outcome.failure["reason"]


def test_a_duplicate_notification_starts_nothing_and_submits_nothing(stack):
    if stack.parameters["LogLevel"] not in ("DEBUG", "INFO"):
        pytest.skip(
            f"a duplicate's handling is logged at INFO; the stack logs at {stack.parameters['LogLevel']}"
        )
    first = stack.wait_for_outcome(stack.upload(f"duplicate-{stack.token}.jpg", photo()))

    stack.notify_again(first)
    handled = stack.wait_for_log("duplicate: execution already exists", first.upload.key)
    again = stack.wait_for_outcome(first.upload)

    assert handled["execution"] == first.execution["name"]
    executions = stack.executions_named_like(first.upload)
    assert [e["executionArn"] for e in executions] == [first.execution["executionArn"]]
    assert len(again.submissions) == 1
    assert again.cutout_object["ETag"] == first.cutout_object["ETag"]  # the cutout written once
    assert again.failure is None


def test_a_reupload_replaces_the_cutout_with_the_newest_uploads(stack):
    stack.wait_for_outcome(stack.upload("again.jpg", photo(64, 48)))

    newest = stack.wait_for_outcome(stack.upload("again.jpg", photo(96, 64)))

    assert newest.execution["status"] == "SUCCEEDED"
    assert newest.cutout.size == (96, 64)
    assert newest.cutout_object["Metadata"]["source-etag"] == newest.upload.etag
    assert newest.failure is None


def test_a_reupload_that_is_not_an_image_replaces_the_cutout_with_its_failure_record(stack):
    first = stack.wait_for_outcome(stack.upload("replaced.jpg", photo()))
    assert first.cutout is not None

    newest = stack.wait_for_outcome(stack.upload("replaced.jpg", NOT_AN_IMAGE))

    assert newest.failure["error"] == "UnsupportedInputError"
    assert newest.failure["source"]["etag"] == newest.upload.etag
    assert newest.cutout is None  # the older upload's cutout is gone: one outcome per key


def test_a_burst_is_paced_under_submissions_per_minute(stack):
    per_minute = stack.submissions_per_minute
    uploads = [stack.upload(f"burst/{n:03d}.jpg", photo(48, 32)) for n in range(BURST)]

    outcomes = stack.wait_for_outcomes(uploads, timeout=BURST * 60 / per_minute * 1.05 + 180)

    assert [o.execution["status"] for o in outcomes] == ["SUCCEEDED"] * BURST
    assert [len(o.submissions) for o in outcomes] == [1] * BURST  # each image submitted once
    submitted = sorted(o.submissions[0] for o in outcomes)
    assert max_in_window(submitted, 60.0) <= per_minute
    assert submitted[-1] - submitted[0] >= (BURST - 1) * 60 / per_minute * PACE_TOLERANCE


def test_the_api_key_is_in_no_log_line_of_the_run(stack, photo_outcome, text_outcome):
    """Every line of the run in the functions' log groups (FunctionLogGroups): there are some, the text
    file's "failure recorded" (WARNING) among them, and none holds the key that Send read and sent."""
    api_key = stack.api_key()
    stack.wait_for_log("failure recorded", text_outcome.upload.key)

    lines = stack.log_lines()

    assert any(stack.run in line for line in lines)
    assert len(api_key) >= 8
    assert [line for line in lines if api_key in line] == []


def test_every_call_went_to_the_stacks_endpoint(stack, endpoint_and_name):
    """Local mode: the emulator's URL, and nothing else, for every client the run made; deployed: AWS's."""
    endpoint, _ = endpoint_and_name
    used = {client.meta.endpoint_url for client in stack.client.made.values()}
    assert len(stack.client.made) >= 5  # cloudformation, s3, stepfunctions, sqs, logs, secretsmanager
    if endpoint.endpoint_url is None:
        assert all(".amazonaws.com" in url for url in used), used
    else:
        assert used == {endpoint.endpoint_url}
