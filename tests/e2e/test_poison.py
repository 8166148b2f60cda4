"""Messages that keep failing end in the dead-letter queue after the queue's maxReceiveCount (5), the
DLQ alarm exists, and `cutout redrive` brings them back to be processed once the cause is fixed. (A
malformed message goes there at once: tests/e2e/test_message_fates.py.)"""

from unittest import mock

from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend

from cutout_cli.queues import redrive
from tests.support.images import photo

MAX_RECEIVES = 5


def dead_letters(pipeline) -> int:
    sqs = pipeline.stack.client("sqs")
    url = pipeline.stack.outputs["IngestDeadLetterQueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def s3_outage_for(suffix: str):
    """S3's reads (GetObject, and HeadObject, which moto makes through it) answer 503 for keys ending in
    ``suffix`` while the patch is on."""
    original = S3Backend.get_object

    def s3_outage(self, bucket_name, key_name, *args, **kwargs):
        if key_name.endswith(suffix):
            raise S3ClientError("ServiceUnavailable", "injected S3 outage")
        return original(self, bucket_name, key_name, *args, **kwargs)

    return mock.patch.object(S3Backend, "get_object", s3_outage)


def test_a_message_that_keeps_failing_goes_to_the_dlq_after_five_receives(pipeline):
    before = dead_letters(pipeline)
    with s3_outage_for("keeps-failing.jpg"):
        pipeline.stack.upload("uploads/keeps-failing.jpg", photo())
        receives = 1
        while dead_letters(pipeline) == before and receives <= MAX_RECEIVES + 1:
            pipeline.stack.aws.redeliver()
            receives += 1
    assert dead_letters(pipeline) == before + 1
    assert receives == MAX_RECEIVES + 1  # delivered 5 times, moved on the 6th receive
    submits = [
        i
        for i in pipeline.stack.aws.invocations
        if i.function == "SubmitFunction" and "keeps-failing.jpg" in str(i.event)
    ]
    assert len(submits) == MAX_RECEIVES


def test_the_dlq_has_an_alarm(pipeline):
    alarms = pipeline.stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    queue_name = pipeline.stack.outputs["IngestDeadLetterQueueUrl"].rsplit("/", 1)[1]
    [dlq_alarm] = [
        a
        for a in alarms
        if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and a["Dimensions"] == [{"Name": "QueueName", "Value": queue_name}]
    ]
    assert dlq_alarm["Threshold"] == 0


def test_redrive_brings_a_dead_letter_back_once_the_cause_is_fixed(pipeline):
    before = dead_letters(pipeline)
    with s3_outage_for("outage.jpg"):
        put = pipeline.stack.upload("uploads/outage.jpg", photo())
        for _ in range(MAX_RECEIVES + 1):
            pipeline.stack.aws.redeliver()
    assert dead_letters(pipeline) == before + 1
    assert pipeline.outcome("uploads/outage.jpg", put).execution is None

    outputs = pipeline.stack.outputs
    moved = redrive(
        pipeline.stack.client("sqs"), outputs["IngestDeadLetterQueueUrl"], outputs["IngestQueueUrl"]
    )

    assert moved == before + 1  # the outage's message, and the one of the test before (processed now)
    outcome = pipeline.outcome("uploads/outage.jpg", put)
    assert outcome.execution["status"] == "SUCCEEDED"
    assert outcome.cutout is not None
