"""Canary: each moto patch still takes effect (moto 5.2.5). If one of these fails after an upgrade, a patch
point in cutout_local/aws/patches.py moved: fix it there before trusting any other local test."""

import inspect
import json
from pathlib import Path

import pytest

from cutout_local.aws import patches
from tests.local_stack.aws.helpers import read_json, upload


def test_every_patch_is_in_place_while_the_stack_runs(deployed):
    active = patches.active()
    assert len(active) == 23  # 21 always + 2 for fast time
    for patch in active:
        assert inspect.getattr_static(patch.owner, patch.attribute) is patch.replacement, patch.why


def test_state_machine_is_in_the_executing_backend_with_its_substitutions(deployed):
    sfn = deployed.client("stepfunctions")
    arn = deployed.outputs["StateMachineArn"]
    assert arn in [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
    definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
    assert "${" not in definition
    assert deployed.resources["CheckStatusFunction"] in definition
    assert '"$$.Execution.Name"' in definition  # DefinitionSubstitutions did not go through Fn::Sub


def test_a_definition_is_parsed_once_and_each_execution_gets_a_program_of_its_own(deployed):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    sfn = deployed.client("stepfunctions")
    definition = sfn.describe_state_machine(stateMachineArn=deployed.outputs["StateMachineArn"])["definition"]

    first, tree = AmazonStateLanguageParser.parse(definition)
    second, same_tree = AmazonStateLanguageParser.parse(definition)

    assert same_tree is tree
    assert second is not first


def test_input_bucket_notifies_the_ingest_queue_for_its_prefix(deployed):
    config = deployed.client("s3").get_bucket_notification_configuration(
        Bucket=deployed.outputs["InputBucketName"]
    )
    [queue_config] = config["QueueConfigurations"]
    assert queue_config["QueueArn"].endswith(deployed.resources["IngestQueue"].rsplit("/", 1)[-1])
    assert queue_config["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "incoming/"}]


def test_the_queue_feeds_submit_with_the_scaling_config_the_poller_reads(deployed):
    lam = deployed.client("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName=deployed.resources["SubmitFunction"])[
        "EventSourceMappings"
    ]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert mapping["BatchSize"] == 10


def test_functions_get_the_layer_the_secret_and_string_environment(deployed):
    config = deployed.client("lambda").get_function(FunctionName=deployed.resources["SubmitFunction"])[
        "Configuration"
    ]
    [layer] = config["Layers"]
    assert ":layer:canary-common:" in layer["Arn"]
    [version] = deployed.client("lambda").list_layer_versions(LayerName="canary-common")["LayerVersions"]
    assert version["CompatibleArchitectures"] == ["arm64"]
    env = config["Environment"]["Variables"]
    assert env["WAIT_SECONDS"] == "30"
    assert env["API_KEY_SECRET_ARN"] == deployed.outputs["ApiKeySecretArn"]
    assert config["Architectures"] == ["arm64"]


def test_secret_queue_policy_alarm_and_public_access_block_exist(deployed):
    secret = deployed.client("secretsmanager").get_secret_value(SecretId=deployed.outputs["ApiKeySecretArn"])
    assert json.loads(secret["SecretString"])["user"] == "canary"
    attrs = deployed.client("sqs").get_queue_attributes(
        QueueUrl=deployed.outputs["IngestQueueUrl"], AttributeNames=["Policy"]
    )["Attributes"]
    assert json.loads(attrs["Policy"])["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    [alarm] = deployed.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    block = deployed.client("s3").get_public_access_block(Bucket=deployed.outputs["InputBucketName"])
    assert block["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True


def test_bucket_name_is_derived_from_the_stack_id(deployed):
    stack_id = deployed.client("cloudformation").describe_stacks(StackName="cutout")["Stacks"][0]["StackId"]
    assert deployed.outputs["InputBucketName"] == "canary-in-" + stack_id.split("/")[2].split("-")[4]


def test_an_upload_runs_in_process_through_the_layer_to_success(deployed):
    aws = deployed
    upload(aws, "incoming/a+b (1).csv")

    [execution] = aws.wait_for_executions(n=1)

    assert execution["status"] == "SUCCEEDED"
    assert aws.waits == [30, 30]
    assert [i.function for i in aws.invocations if i.function != "SubmitFunction"] == [
        "CheckStatusFunction", "CheckStatusFunction", "WriteResultFunction",
    ]  # fmt: skip
    result = read_json(aws, "OutputBucketName", "results/incoming/a+b (1).csv.json")
    assert result["layer_marker"] == "canary-layer-v1"
    assert Path(result["layer_file"]).parts[-3:] == ("python", "canary_common", "__init__.py")
    assert result["execution"] == execution["name"]
    assert result["service"] == "canary"
    assert result["function_name"] == result["env_function_name"] == aws.resources["WriteResultFunction"]
    assert result["module"] == "app"  # imported by its name, in an environment of its own
    assert 0 < result["remaining_ms"] <= 30_000


def test_an_ended_execution_sends_its_status_change_event(deployed):
    upload(deployed, "incoming/status-change.csv")
    [execution] = [e for e in deployed.wait_for_executions(n=1) if "status-change.csv" in e["input"]]

    [event] = [e for e in deployed.status_changes.sent if e["resources"] == [execution["executionArn"]]]

    assert (event["source"], event["detail-type"]) == ("aws.states", "Step Functions Execution Status Change")
    assert event["detail"]["status"] == execution["status"] == "SUCCEEDED"
    assert json.loads(event["detail"]["input"]) == json.loads(execution["input"])
    start = execution["startDate"]  # the API's, to the millisecond
    assert event["detail"]["startDate"] == int(start.timestamp()) * 1000 + start.microsecond // 1000


def test_s3_refuses_user_metadata_past_two_kilobytes_as_aws_does(deployed):
    """moto stores any size; S3 answers 400 MetadataTooLarge past 2 KB (names without x-amz-meta-, and
    values, in UTF-8 bytes), so the emulator does too."""
    s3, bucket = deployed.client("s3"), deployed.outputs["InputBucketName"]
    s3.put_object(Bucket=bucket, Key="meta/fits", Body=b"x", Metadata={"k": "v" * 2047})
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="meta/too-big", Body=b"x", Metadata={"k": "v" * 2048})
    assert refused.value.response["Error"]["Code"] == "MetadataTooLarge"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.create_multipart_upload(Bucket=bucket, Key="meta/too-big-multipart", Metadata={"key": "e" * 2046})
    assert refused.value.response["Error"]["Code"] == "MetadataTooLarge"


def test_deletions_in_a_versioned_bucket_notify_as_on_s3(deployed):
    """A delete marker and a version deleted by its id each send an ObjectRemoved record with the version
    id S3 gives it (the marker's; the deleted version's); moto alone sends neither."""
    s3, sqs = deployed.client("s3"), deployed.client("sqs")
    queue = sqs.create_queue(QueueName="canary-removals")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket="canary-removals")
    s3.put_bucket_versioning(Bucket="canary-removals", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket="canary-removals",
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}]
        },
    )
    first = s3.put_object(Bucket="canary-removals", Key="a b.jpg", Body=b"one")
    s3.put_object(Bucket="canary-removals", Key="a b.jpg", Body=b"two")
    marker = s3.delete_object(Bucket="canary-removals", Key="a b.jpg")
    s3.delete_object(Bucket="canary-removals", Key="a b.jpg", VersionId=first["VersionId"])

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in messages]
    records = [body["Records"][0] for body in bodies if "Records" in body]  # after S3's test event
    assert [(r["eventName"], r["s3"]["object"]["key"], r["s3"]["object"]["versionId"]) for r in records] == [
        ("ObjectRemoved:DeleteMarkerCreated", "a+b.jpg", marker["VersionId"]),
        ("ObjectRemoved:Delete", "a+b.jpg", first["VersionId"]),
    ]
    assert records[1]["s3"]["object"]["eTag"] == first["ETag"].strip('"')


def test_a_removal_sends_one_record_where_moto_would_send_its_own_too(deployed):
    """A key's last version deleted by its id: moto sends an ObjectRemoved record of its own, without the
    version id, which the emulator holds back (its own carries the id): one record, as on S3. In an
    unversioned bucket moto's record is S3's."""
    s3, sqs = deployed.client("s3"), deployed.client("sqs")
    queue = sqs.create_queue(QueueName="canary-one-removal")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    config = {"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}]}
    for bucket, versioned in (("canary-one-removal-plain", False), ("canary-one-removal-versioned", True)):
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    s3.put_object(Bucket="canary-one-removal-plain", Key="k.jpg", Body=b"one")
    s3.delete_object(Bucket="canary-one-removal-plain", Key="k.jpg")
    only = s3.put_object(Bucket="canary-one-removal-versioned", Key="k.jpg", Body=b"one")
    s3.delete_object(Bucket="canary-one-removal-versioned", Key="k.jpg", VersionId=only["VersionId"])

    bodies = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    records = [body["Records"][0] for body in bodies if "Records" in body]  # after S3's test events
    seen = sorted(
        (r["s3"]["bucket"]["name"], r["eventName"], r["s3"]["object"].get("versionId")) for r in records
    )
    assert seen == [
        ("canary-one-removal-plain", "ObjectRemoved:Delete", None),
        ("canary-one-removal-versioned", "ObjectRemoved:Delete", only["VersionId"]),
    ]


def test_s3_records_carry_a_sequencer_that_grows_with_each_upload(deployed):
    """S3's records name their order for a key (``sequencer``); moto's carried none."""
    s3, sqs = deployed.client("s3"), deployed.client("sqs")
    queue = sqs.create_queue(QueueName="canary-sequencers")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket="canary-sequencers")
    s3.put_bucket_notification_configuration(
        Bucket="canary-sequencers",
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    for body in (b"one", b"two", b"three"):
        s3.put_object(Bucket="canary-sequencers", Key="k.jpg", Body=body)
    bodies = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    records = [b["Records"][0] for b in bodies if "Records" in b]  # not S3's test event
    by_etag = {r["s3"]["object"]["eTag"]: r["s3"]["object"]["sequencer"] for r in records}
    etags = [s3.head_object(Bucket="canary-sequencers", Key="k.jpg")["ETag"].strip('"')]
    assert len(by_etag) == 3
    assert max(by_etag.values()) == by_etag[etags[0]]  # the newest upload's is the greatest


def test_rules_deliver_put_events_to_sqs_as_eventbridge_does(deployed):
    """moto's rule gives an SQS target the event without ``account``, its fields filled in by text
    replacement (a ``<id>`` in the detail came out as the event's id), and a DISABLED rule delivers too;
    the emulator's rule delivers the whole event as AWS does, and only while ENABLED."""
    events, sqs = deployed.client("events"), deployed.client("sqs")
    events.create_event_bus(Name="canary-bus")
    queues = {}
    for state in ("ENABLED", "DISABLED"):
        url = sqs.create_queue(QueueName=f"canary-events-{state.lower()}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern = json.dumps({"source": ["canary"]})
        events.put_rule(Name=f"canary-{state}", EventBusName="canary-bus", EventPattern=pattern, State=state)
        events.put_targets(
            Rule=f"canary-{state}", EventBusName="canary-bus", Targets=[{"Id": "q", "Arn": arn}]
        )
        queues[state] = url
    detail = {"key": "uploads/<id> <time> <detail-type>.jpg"}
    [entry] = events.put_events(
        Entries=[
            {
                "Source": "canary",
                "DetailType": "Canary",
                "Detail": json.dumps(detail),
                "EventBusName": "canary-bus",
            }
        ]
    )["Entries"]

    [message] = sqs.receive_message(QueueUrl=queues["ENABLED"], WaitTimeSeconds=1)["Messages"]
    event = json.loads(message["Body"])
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert (event["id"], event["account"], event["detail"]) == (entry["EventId"], "123456789012", detail)
    assert sqs.receive_message(QueueUrl=queues["DISABLED"], WaitTimeSeconds=1).get("Messages", []) == []
