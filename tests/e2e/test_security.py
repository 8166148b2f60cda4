"""The API key never leaks: run successes and failures with every log line at DEBUG, then search all
that a person or a system could read (logs and metrics on stdout/stderr, execution inputs, outputs and
histories, every object and its metadata in the output bucket, what each function was given and
returned) for it."""

import json

from cutout_local.stack import LocalStack
from tests.e2e.conftest import Pipeline
from tests.images import photo


def test_the_api_key_appears_nowhere(capfd):
    with LocalStack(fast_waits=True, per_minute=6000, sqs_poll_seconds=None, log_level="DEBUG") as stack:
        pipeline = Pipeline(stack)
        outcomes = [pipeline.run("uploads/fine.jpg", photo())]
        stack.provider.faults.update(task_fail_next=1)
        outcomes.append(pipeline.run("uploads/fails.jpg", photo()))
        stack.provider.faults.update(submit_5xx_next=1, poll_malformed_next=1)
        outcomes.append(pipeline.run("uploads/retried.jpg", photo()))
        outcomes.append(pipeline.run("uploads/not-an-image.jpg", b"plain text"))
        readable = [json.dumps([o.history, o.execution], default=str) for o in outcomes]
        s3 = stack.client("s3")
        bucket = stack.outputs["OutputBucketName"]
        for item in s3.list_objects_v2(Bucket=bucket)["Contents"]:
            obj = s3.get_object(Bucket=bucket, Key=item["Key"])
            readable.append(obj["Body"].read().decode("latin-1") + json.dumps(obj["Metadata"]))
        readable.append(
            json.dumps([(i.function, i.event, str(i.result)) for i in stack.aws.invocations], default=str)
        )
        api_key = stack.api_key
    out, err = capfd.readouterr()

    assert [o.execution["status"] if o.execution else None for o in outcomes] == [
        "SUCCEEDED",
        "FAILED",
        "SUCCEEDED",
        None,
    ]
    assert '"level":"DEBUG"' in out or '"level":"INFO"' in out  # the functions did log, and we read it
    assert len(readable) >= 8
    assert api_key not in out
    assert api_key not in err
    assert not [text for text in readable if api_key in text]
