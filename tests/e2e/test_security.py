"""The API key never leaks: run successes and failures with every log line at DEBUG, then search all
that a person or a system could read (every line the functions' environments wrote, their log records and
metrics, execution inputs, outputs and histories, every object and its metadata in the output bucket, what
each function was given and returned) for it."""

import json

from tests.support.images import photo
from tests.support.pipeline import pipeline_stack


def test_the_api_key_appears_nowhere(capsys):
    with pipeline_stack(log_level="DEBUG") as pipeline:
        stack = pipeline.stack
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
            json.dumps([(i.function, i.event, i.payload) for i in stack.aws.invocations], default=str)
        )
        api_key = stack.api_key
        function_logs = stack.aws.function_logs  # what the environments (child processes) wrote
        levels = {
            f["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"]
            for f in stack.client("lambda").list_functions()["Functions"]
        }
    printed = capsys.readouterr()

    statuses = [o.execution["status"] if o.execution else None for o in outcomes]
    assert statuses == ["SUCCEEDED", "FAILED", "SUCCEEDED", None]
    assert levels == {"DEBUG"}  # every function logged the most it ever logs
    for key in ("uploads/fine.jpg", "uploads/fails.jpg", "uploads/retried.jpg", "uploads/not-an-image.jpg"):
        assert any(key in line for line in function_logs), key  # the functions' log lines are all here
        assert any(key in line for line in printed.out.splitlines()), key  # and printed
    assert not [line for line in function_logs if api_key in line]
    assert api_key not in printed.out + printed.err  # metrics (EMF) and anything printed
    assert len(readable) >= 8
    assert not [text for text in readable if api_key in text]
