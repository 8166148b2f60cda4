"""Static checks of template.yaml and the ASL: they must pass on ours, fail on broken copies, and hold
the security properties (private, encrypted, TLS-only buckets; least-privilege IAM)."""

import json
import re
from pathlib import Path

import pytest
from cfnlint.api import lint
from cfnlint.decode import decode
from statelint.config import Config
from statelint.linter import Linter
from statelint.problem import ProblemType

import cutout
from cutout.settings import MAX_BACKLOG_DAYS, MAX_PROVIDER_OUTAGE_SECONDS
from cutout.state import EXECUTION_MARGIN_SECONDS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
ASL_PATH = ROOT / "statemachine" / "cutout.asl.json"
# Statements allowed an unscoped Resource, each with its reason in the template next to it.
UNSCOPED_RESOURCE_ALLOWED = {"DeliverExecutionLogs"}


@pytest.fixture(scope="module")
def template():
    tpl, problems = decode(str(TEMPLATE_PATH))
    assert not problems
    return tpl


@pytest.fixture(scope="module")
def asl():
    return json.loads(ASL_PATH.read_text())


def resources_of(template, kind):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def cfn_lint_errors(text):
    return [m for m in lint(text) if m.rule.id.startswith("E")]


def test_template_passes_cfn_lint():
    assert cfn_lint_errors(TEMPLATE_PATH.read_text()) == []


def test_cfn_lint_catches_a_broken_reference():
    broken = TEMPLATE_PATH.read_text().replace("!GetAtt IngestQueue.Arn", "!GetAtt NoSuchQueue.Arn", 1)
    assert any("NoSuchQueue" in m.message for m in cfn_lint_errors(broken))


def statelint_problems(definition):
    return Linter.validate(definition, Config(ignored_problem_types={ProblemType.URI}))


def test_asl_passes_statelint(asl):
    assert statelint_problems(json.dumps(asl)) == []


def test_statelint_catches_a_dangling_next(asl):
    asl["States"]["WaitForTask"]["Next"] = "NoSuchState"
    assert any("NoSuchState" in p for p in statelint_problems(json.dumps(asl)))


@pytest.mark.parametrize("name", ["CutoutStateMachine", "BackfillStateMachine"])
def test_every_substitution_is_defined_and_used(template, name):
    machine = resources_of(template, "AWS::Serverless::StateMachine")[name]
    placeholders = set(
        re.findall(r"\$\{(\w+)\}", (ROOT / machine["Properties"]["DefinitionUri"]).read_text())
    )
    assert placeholders == set(machine["Properties"]["DefinitionSubstitutions"])


def test_retries_back_off_with_jitter(asl):
    for state in asl["States"].values():
        for retrier in state.get("Retry", []):
            assert retrier["BackoffRate"] > 1
            assert retrier["JitterStrategy"] == "FULL"
            assert retrier["MaxAttempts"] <= 10


def test_only_ids_travel_in_the_state(asl):
    text = json.dumps(asl)
    for forbidden in ("image_url", "presigned", "api_key", "Authorization"):
        assert forbidden not in text


def test_the_machines_timeout_is_derived_from_the_longest_waits_allowed(template, asl):
    """A backstop no execution reaches: an image waits at most MaxBacklogDays for its slot (an outage
    before submission included; else a failure record), then at most MaxTaskWaitSeconds for its task
    plus MaxProviderOutageSeconds of an outage while polling, then at most MaxProviderOutageSeconds of an
    outage of the result host (else failure records), plus the margin."""
    parameters = template["Parameters"]
    longest_backlog = int(parameters["MaxBacklogDays"]["MaxValue"]) * 86400
    longest_task_wait = int(parameters["MaxTaskWaitSeconds"]["MaxValue"])
    longest_outage = int(parameters["MaxProviderOutageSeconds"]["MaxValue"])
    assert asl["TimeoutSeconds"] == (
        longest_backlog + longest_task_wait + 2 * longest_outage + EXECUTION_MARGIN_SECONDS
    )
    assert int(parameters["MaxBacklogDays"]["MaxValue"]) == MAX_BACKLOG_DAYS  # what the functions accept
    assert longest_outage == MAX_PROVIDER_OUTAGE_SECONDS
    assert asl["TimeoutSeconds"] <= 365 * 86400  # a Standard execution's longest duration


def test_the_ingest_queue_is_drained_by_a_bounded_number_of_submitters(template):
    [ingest] = template["Resources"]["SubmitFunction"]["Properties"]["Events"].values()
    assert ingest["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "IngestMaximumConcurrency"}
    }
    bounds = template["Parameters"]["IngestMaximumConcurrency"]
    assert (bounds["MinValue"], bounds["MaxValue"]) == (2, 1000)  # what Lambda accepts
    assert 2 <= int(bounds["Default"]) <= 1000


def test_the_spend_guard_has_an_alarm_on_the_metric_send_emits(template):
    alarm = template["Resources"]["SpendCapAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Cutout", "SubmissionsHeldBySpendCap")
    assert template["Parameters"]["MaxSubmissionsPerDay"]["Default"] == 0  # off unless asked for
    ttl = template["Resources"]["RateLimitTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}  # the daily counts expire


@pytest.mark.parametrize("bucket", ["InputBucket", "OutputBucket"])
def test_buckets_are_private_and_encrypted(template, bucket):
    props = template["Resources"][bucket]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}


@pytest.mark.parametrize("bucket", ["InputBucket", "OutputBucket"])
def test_buckets_deny_requests_without_tls(template, bucket):
    [policy] = [
        p
        for p in resources_of(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    [deny] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Resource"] == [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": f"${{{bucket}.Arn}}/*"}]


def test_queues_are_encrypted_and_tls_only(template):
    queues = resources_of(template, "AWS::SQS::Queue")
    assert all(q["Properties"]["SqsManagedSseEnabled"] for q in queues.values())
    denied = []
    for policy in resources_of(template, "AWS::SQS::QueuePolicy").values():
        [deny] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert (deny["Principal"], deny["Action"]) == ("*", "sqs:*")
        resources = deny["Resource"] if isinstance(deny["Resource"], list) else [deny["Resource"]]
        assert [{"Ref": q["Fn::GetAtt"][0]} for q in resources] == policy["Properties"]["Queues"]
        denied += [q["Fn::GetAtt"] for q in resources]
    assert sorted(denied) == sorted([name, "Arn"] for name in queues)


def test_every_dead_letter_queue_has_an_alarm(template):
    queues = [n for n in resources_of(template, "AWS::SQS::Queue") if n.endswith("DeadLetterQueue")]
    watched = [
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in resources_of(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    assert sorted(watched) == sorted(queues)
    assert len(queues) == 2


def iam_statements(template):
    """Every inline statement, those granted under a template condition (``Fn::If``) included."""
    for name, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                yield name, statement["Fn::If"][1] if "Fn::If" in statement else statement


def test_no_wildcard_actions_and_no_unscoped_resources(template):
    statements = list(iam_statements(template))
    assert len(statements) >= 8
    for name, statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), f"{name}: {actions}"
        if statement["Resource"] == "*":
            assert statement.get("Sid") in UNSCOPED_RESOURCE_ALLOWED, f"{name}: unscoped resource"


def test_no_managed_full_access_policies(template):
    for resource in template["Resources"].values():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            assert not (isinstance(policy, str) and "FullAccess" in policy)


def test_functions_share_the_layer_and_the_runtime(template):
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Layers"] == [{"Ref": "CommonLayer"}]


def test_only_the_functions_that_decode_images_carry_the_imaging_layer(template):
    """Pillow and pillow-heif: ConvertFunction (cutout.conversion) and WriteResult (cutout.rendering)."""
    functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    with_imaging = {n for n, r in functions.items() if r["Properties"].get("Layers")}
    assert with_imaging == {"ConvertFunction", "WriteResultFunction"}
    assert all(functions[n]["Properties"]["Layers"] == [{"Ref": "ImagingLayer"}] for n in with_imaging)
    layer = template["Resources"]["ImagingLayer"]
    assert (layer["Properties"]["ContentUri"], layer["Metadata"]) == (
        "layers/imaging/",
        {"BuildMethod": "makefile", "BuildArchitecture": "arm64"},
    )


def test_staged_copies_expire_after_a_day_and_only_they(template):
    rules = template["Resources"]["OutputBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    [expiring] = [r for r in rules if "ExpirationInDays" in r]
    assert expiring == {
        "Id": "ExpireStagedCopies",
        "Status": "Enabled",
        "Prefix": {"Ref": "StagingPrefix"},
        "ExpirationInDays": 1,
    }
    assert template["Globals"]["Function"]["Environment"]["Variables"]["STAGING_PREFIX"] == {
        "Ref": "StagingPrefix"
    }


def test_submit_reports_partial_batch_failures(template):
    event = template["Resources"]["SubmitFunction"]["Properties"]["Events"]["Ingest"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_parameter_is_described_with_a_default(template):
    for name, parameter in template["Parameters"].items():
        assert parameter.get("Description"), name
        assert "Default" in parameter, name


def test_cloudwatch_can_publish_to_the_alarm_topic(template):
    """Not under alias/aws/sns, whose key policy cannot grant CloudWatch: a key of the stack's own that
    lets cloudwatch.amazonaws.com use it, for this account only, rotated."""
    resources = template["Resources"]
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    [cloudwatch] = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"].get("Service")]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_dead_letter_queue_outlives_the_ingest_queue(template):
    """A message's expiry counts from when it was first sent, in the DLQ too: a DLQ that keeps messages
    no longer than its source would lose those that spent their time there before failing."""
    resources = template["Resources"]
    source = resources["IngestQueue"]["Properties"]["MessageRetentionPeriod"]
    dlq = resources["IngestDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert dlq - source >= 7 * 86400


def test_send_outlasts_its_longest_provider_calls_and_its_sleeps(template):
    from cutout.sending import MAX_SLOT_SLEEP_SECONDS

    timeout = template["Resources"]["SendFunction"]["Properties"]["Timeout"]
    longest_read = int(template["Parameters"]["ProviderTimeoutSeconds"]["MaxValue"])
    connect = 3.05  # cutout.novita.DEFAULT_TIMEOUT
    # two provider calls (the submission, the look after it: cutout.looks), the sleep before the first
    # Wait (under a second), two AWS calls at their bound
    assert timeout >= 2 * (longest_read + connect) + MAX_SLOT_SLEEP_SECONDS + 1 + 2 * 13


def test_each_queue_policy_names_one_queue(template):
    """SQS keeps one policy document per queue: a QueuePolicy naming two queues gives both the same
    document (and a second policy on a queue replaces the first)."""
    named = [
        q for p in resources_of(template, "AWS::SQS::QueuePolicy").values() for q in p["Properties"]["Queues"]
    ]
    assert all(
        len(p["Properties"]["Queues"]) == 1 for p in resources_of(template, "AWS::SQS::QueuePolicy").values()
    )
    assert len(named) == len(set(map(str, named)))


def test_every_function_logs_to_a_group_of_the_stack_with_a_retention(template):
    functions = resources_of(template, "AWS::Serverless::Function")
    groups = resources_of(template, "AWS::Logs::LogGroup")
    for function in functions.values():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())
    assert template["Resources"]["CommonLayer"]["Properties"]["RetentionPolicy"] == "Delete"


@pytest.mark.parametrize(
    ("arn", "accepted"),
    [
        ("", True),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:cutout/novita-AbC123", True),
        ("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:novita_key-a1B2c3", True),
        # a partial ARN (no six-character suffix) matches no secret in an IAM statement
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:cutout/novita", False),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:novita-key", False),
    ],
)
def test_an_existing_secret_is_named_by_its_complete_arn(template, arn, accepted):
    pattern = template["Parameters"]["NovitaApiKeySecretArn"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, arn)) is accepted


def test_the_versioned_input_bucket_expires_replaced_versions_and_abandoned_uploads(template):
    rules = {
        r["Id"]: r
        for r in template["Resources"]["InputBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert rules["ExpireReplacedUploads"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "NoncurrentUploadDays"}
    }
    assert rules["AbortIncompleteMultipartUploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }


def test_no_arn_names_the_aws_partition_itself(template, asl):
    """A stack in aws-cn or aws-us-gov: every ARN the template or the ASL writes takes the partition."""
    text = TEMPLATE_PATH.read_text().replace("arn:aws[a-z-]*:", "")  # the parameters' patterns
    assert "arn:aws:" not in text
    assert "arn:aws:" not in ASL_PATH.read_text()


def dashboard(template):
    """The dashboard's body as data, each ``${X}`` of its ``Fn::Sub`` left as the text ``<X>``."""
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{([A-Za-z:.]+)\}", r"<\1>", body))


def emitted_metric_names():
    """Every metric name the code publishes (``add_metric(name="…"``), read from the source."""
    package = Path(cutout.__file__).parent  # the package the tests import (mutation testing runs a copy)
    sources = [*package.glob("*.py"), *(ROOT / "functions").glob("*/app.py")]
    names = {m for path in sources for m in re.findall(r'add_metric\(\s*name="(\w+)"', path.read_text())}
    assert "ImagesAdmitted" in names  # the pattern still finds them
    return names


def test_the_dashboard_shows_what_the_issue_lists_from_metrics_that_exist(template):
    widgets = dashboard(template)["widgets"]
    metrics = [m for w in widgets for m in w["properties"]["metrics"]]
    ours = {m[1] for m in metrics if m[0] == "Cutout"}
    assert ours <= emitted_metric_names()  # no line of the dashboard waits for a metric nobody sends
    # and every metric the code sends has a line (under mutation testing the source also holds mutmut's
    # copies of each name: "XX…XX", lower and upper case; they are not metrics the code sends)
    made_by_mutmut = {n for n in emitted_metric_names() if n.startswith("XX") or n in (n.lower(), n.upper())}
    assert emitted_metric_names() - made_by_mutmut <= ours
    assert {
        "ImagesAdmitted",
        "CutoutsWritten",
        "ImagesFailed",
        "SlotWaitSeconds",
        "ProviderThrottled",
        "ProviderUnavailable",
        "PollsPerTask",
        "EventsPublished",
        "EventsNotPublished",
    } <= ours
    assert all(m[2:4] == ["service", "cutout"] for m in metrics if m[0] == "Cutout")  # the EMF dimension
    assert ["AWS/States", "ExecutionTime", "StateMachineArn", "<CutoutStateMachine>"] in [
        m[:4] for m in metrics
    ]
    queues = {m[3] for m in metrics if m[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]}
    assert {"<IngestDeadLetterQueue.QueueName>", "<ExecutionEndedDeadLetterQueue.QueueName>"} <= queues
    functions = {f"<{n}>" for n in resources_of(template, "AWS::Serverless::Function")}
    for lambda_metric in ("Errors", "Throttles"):
        assert {m[3] for m in metrics if m[:2] == ["AWS/Lambda", lambda_metric]} == functions
    references = set(re.findall(r"<([A-Za-z]+)[.>]", json.dumps(widgets)))
    assert references - {"AWS"} <= set(template["Resources"])
