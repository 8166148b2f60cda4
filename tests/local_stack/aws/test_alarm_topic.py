"""The product template with AlarmEmail set: the alarm topic is encrypted under a key of the stack's own,
which CloudWatch may use (issue 12: under alias/aws/sns no alarm email would ever arrive)."""

from cutout_local.aws import LocalAws
from tests.local_stack.aws.helpers import ROOT


def test_with_an_alarm_email_the_topic_is_encrypted_under_a_key_of_its_own():
    """The key CloudWatch may use (AlarmTopicKey) is created and the topic is under it, not under
    alias/aws/sns (whose key policy cannot grant CloudWatch: the alarm emails would never arrive)."""
    parameters = {"ProviderBaseUrl": "http://127.0.0.1:9", "AlarmEmail": "ops@example.com"}
    with LocalAws(template=ROOT / "template.yaml", parameters=parameters) as aws:
        key_id = aws.resources["AlarmTopicKey"]
        keys = [k["KeyId"] for k in aws.client("kms").list_keys()["Keys"]]
        attributes = aws.client("sns").get_topic_attributes(TopicArn=aws.resources["AlarmTopic"])[
            "Attributes"
        ]
    assert key_id in keys
    assert key_id in attributes["KmsMasterKeyId"]
