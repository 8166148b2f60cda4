"""Least privilege, pinned: each function's IAM statements are exactly the actions and resources it
needs (prefix-scoped where the template scopes them), so any widening fails here. The state machine
may invoke its five functions and deliver its own logs, nothing else; only the ExecutionEnded rule may
invoke ExecutionEndedFunction, and only that function and rule may send to its dead-letter queue."""

from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]

SECRET = {"Fn::If": ["CreateApiKeySecret", {"Ref": "NovitaApiKeySecret"}, {"Ref": "NovitaApiKeySecretArn"}]}
UPLOADS = {"Fn::Sub": "${InputBucket.Arn}/*"}
FAILURE_RECORDS = {"Fn::Sub": "${OutputBucket.Arn}/${FailurePrefix}*"}
CUTOUTS = {"Fn::Sub": "${OutputBucket.Arn}/${OutputPrefix}*"}
VARIANTS = {"Fn::Sub": "${OutputBucket.Arn}/${VariantPrefix}*"}
STAGED_COPIES = {"Fn::Sub": "${OutputBucket.Arn}/${StagingPrefix}*"}
SCHEDULE = {"Fn::GetAtt": ["RateLimitTable", "Arn"]}
# cutout.health's items only (one per part of the provider), not the schedule or the spend count
PROVIDER_HEALTH = (
    {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    SCHEDULE,
    {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["provider-health#*"]}},
)
RECORD_TASK_DURATIONS = (
    {"dynamodb:UpdateItem"},
    SCHEDULE,
    {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["task-durations#*"]}},
)

# The secret, when it is an existing one under a customer managed key: decrypt through Secrets Manager only.
API_KEY = {
    "ReadApiKey": ({"secretsmanager:GetSecretValue"}, SECRET, None),
    "DecryptApiKey if SecretUnderCustomerKey": (
        {"kms:Decrypt"},
        {"Ref": "NovitaApiKeySecretKmsKeyArn"},
        {"StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}},
    ),
}
# Uploads under the uploaders' own KMS keys (InputKmsKeyArns): decrypt through S3 only.
DECRYPT_UPLOADS = (
    {"kms:Decrypt"},
    {"Ref": "InputKmsKeyArns"},
    {"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}},
)

# Completion events (cutout.events): on the stack's one bus, with source "cutout" only.
BUS = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"
PUBLISH_EVENTS = {
    "PublishCompletionEvents": (
        {"events:PutEvents"},
        {"Fn::Sub": BUS},
        {"StringEquals": {"events:source": "cutout"}},
    )
}

# function -> {Sid: (actions, resource, condition)}
# Every writer of an outcome (cutout.outcomes): read both kinds, delete the one it replaces, and see that
# a missing one is missing: S3 answers a HEAD of a missing key with 404 only to a caller allowed
# s3:ListBucket, and a HEAD carries no prefix, so an s3:prefix condition would turn every 404 into a 403.
OUTCOMES = {
    "ReadAndReplaceOutcomes": (
        {"s3:GetObject", "s3:DeleteObject"},
        [CUTOUTS, FAILURE_RECORDS, VARIANTS],
        None,
    ),
    "SeeWhetherAnOutcomeExists": ({"s3:ListBucket"}, {"Fn::GetAtt": ["OutputBucket", "Arn"]}, None),
}

EXPECTED = {
    "SubmitFunction": {
        "ReadUploads": ({"s3:GetObject", "s3:GetObjectVersion"}, UPLOADS, None),
        "DecryptUploads if UploadsUnderCustomerKeys": DECRYPT_UPLOADS,
        "WriteFailureRecords": ({"s3:PutObject"}, FAILURE_RECORDS, None),
        "ReserveSubmissionSlots": ({"dynamodb:GetItem", "dynamodb:UpdateItem"}, SCHEDULE, None),
        "StartExecutions": ({"states:StartExecution"}, {"Ref": "CutoutStateMachine"}, None),
        "SeeWhetherAnExecutionStarted": (
            {"states:DescribeExecution"},
            {
                "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
                ":execution:${CutoutStateMachine.Name}:*"
            },
            None,
        ),
        "SetAsideMalformedMessages": (
            {"sqs:SendMessage"},
            {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]},
            None,
        ),
        **OUTCOMES,
        **PUBLISH_EVENTS,
    },
    # The upload (pinned, decrypted as Submit does), and the staged copies alone in the output bucket.
    "ConvertFunction": {
        "ReadUploads": ({"s3:GetObject", "s3:GetObjectVersion"}, UPLOADS, None),
        "DecryptUploads if UploadsUnderCustomerKeys": DECRYPT_UPLOADS,
        "WriteStagedCopies": ({"s3:GetObject", "s3:PutObject"}, STAGED_COPIES, None),
        "SeeWhetherAStagedCopyExists": ({"s3:ListBucket"}, {"Fn::GetAtt": ["OutputBucket", "Arn"]}, None),
    },
    "SendFunction": {
        "SeeWhetherTheUploadChanged": ({"s3:GetObject", "s3:GetObjectVersion"}, UPLOADS, None),
        "PresignUploads": (
            {"sts:AssumeRole"},
            {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}/presign/*"},
            None,
        ),
        **API_KEY,
        "ReserveSubmissionSlots": ({"dynamodb:GetItem", "dynamodb:UpdateItem"}, SCHEDULE, None),
        "RecordSubmissions": (
            {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
            {"Fn::GetAtt": ["IdempotencyTable", "Arn"]},
            None,
        ),
    },
    "CheckStatusFunction": {
        "ShareProviderHealth": PROVIDER_HEALTH,
        "RecordTaskDurations": RECORD_TASK_DURATIONS,
        **API_KEY,
    },
    "WriteResultFunction": {
        "ReadTheUploadsHead": ({"s3:GetObject", "s3:GetObjectVersion"}, UPLOADS, None),
        "DecryptUploads if UploadsUnderCustomerKeys": DECRYPT_UPLOADS,
        "ReadStagedCopies": ({"s3:GetObject"}, STAGED_COPIES, None),
        "WriteCutouts": ({"s3:PutObject", "s3:AbortMultipartUpload"}, [CUTOUTS, VARIANTS], None),
        **API_KEY,
        "ShareProviderHealth": PROVIDER_HEALTH,
        **OUTCOMES,
        **PUBLISH_EVENTS,
    },
    "RecordFailureFunction": {
        "WriteFailureRecords": ({"s3:PutObject"}, FAILURE_RECORDS, None),
        **OUTCOMES,
        **PUBLISH_EVENTS,
    },
    "ExecutionEndedFunction": {
        "WriteFailureRecords": ({"s3:PutObject"}, FAILURE_RECORDS, None),
        **OUTCOMES,
        **PUBLISH_EVENTS,
    },
}


@pytest.fixture(scope="module")
def resources():
    template, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    return template["Resources"]


def granted(policies):
    """{Sid: (actions, resource, condition)} of every inline statement; any other policy kind fails. A
    statement granted only under a template condition (``Fn::If`` with ``AWS::NoValue`` otherwise) is
    listed as ``"<Sid> if <condition>"``."""
    found = {}
    for policy in policies:
        assert set(policy) == {"Statement"}, f"a policy that is not an inline statement: {policy}"
        for statement in policy["Statement"]:
            sid_suffix = ""
            if "Fn::If" in statement:
                condition, statement, otherwise = statement["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                sid_suffix = f" if {condition}"
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            sid = statement["Sid"] + sid_suffix
            assert sid not in found
            found[sid] = (set(actions), statement["Resource"], statement.get("Condition"))
    return found


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_each_function_is_granted_exactly_what_it_needs(resources, function):
    assert granted(resources[function]["Properties"]["Policies"]) == EXPECTED[function]


def test_every_function_is_pinned(resources):
    functions = {n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == set(EXPECTED)
    # the one role of its own, pinned below
    assert [n for n, r in resources.items() if r["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy")] == [
        "PresignRole"
    ]


def test_the_state_machine_invokes_its_five_functions_and_delivers_its_logs(resources):
    policies = resources["CutoutStateMachine"]["Properties"]["Policies"]
    invoked = [p["LambdaInvokePolicy"]["FunctionName"] for p in policies if "LambdaInvokePolicy" in p]
    functions = ("ConvertFunction", "SendFunction", "CheckStatusFunction", "WriteResultFunction")
    assert invoked == [{"Ref": f} for f in (*functions, "RecordFailureFunction")]
    statements = granted([p for p in policies if "LambdaInvokePolicy" not in p])
    assert set(statements) == {"DeliverExecutionLogs"}
    actions, resource, condition = statements["DeliverExecutionLogs"]
    assert all(a.startswith("logs:") and "*" not in a for a in actions)
    assert (resource, condition) == ("*", None)  # vended log delivery has no resource-level permissions


def test_only_the_execution_ended_rule_may_invoke_its_function(resources):
    permissions = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Lambda::Permission"}
    assert permissions == {
        "ExecutionEndedPermission": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "ExecutionEndedFunction"},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": ["ExecutionEndedRule", "Arn"]},
        }
    }


def test_only_the_function_and_its_rule_send_to_its_dead_letter_queue(resources):
    queue = {"Fn::GetAtt": ["ExecutionEndedDeadLetterQueue", "Arn"]}
    # SAM grants the function sqs:SendMessage on its DeadLetterQueue, and on nothing else
    assert resources["ExecutionEndedFunction"]["Properties"]["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": queue,
    }
    [allow] = [
        s
        for s in resources["ExecutionEndedDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert (allow["Principal"], allow["Action"], allow["Resource"]) == (
        {"Service": "events.amazonaws.com"},
        "sqs:SendMessage",
        queue,
    )
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["ExecutionEndedRule", "Arn"]}}
    }


def test_the_presign_role_may_only_read_uploads_and_staged_copies_and_only_send_may_assume_it(resources):
    role = resources["PresignRole"]["Properties"]
    assert role["Path"] == {"Fn::Sub": "/${AWS::StackName}/presign/"}  # what SendFunction's grant names
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"AWS": {"Fn::GetAtt": ["SendFunctionRole", "Arn"]}},
        "Action": "sts:AssumeRole",
    }
    (policy,) = role["Policies"]
    assert granted([{"Statement": policy["PolicyDocument"]["Statement"]}]) == {
        "ReadUploads": ({"s3:GetObject", "s3:GetObjectVersion"}, UPLOADS, None),
        "DecryptUploads if UploadsUnderCustomerKeys": DECRYPT_UPLOADS,
        "ReadStagedCopies": ({"s3:GetObject"}, STAGED_COPIES, None),
    }
    # an hour: the longest a role assumed by another role's session may last (cutout.aws)
    assert role["MaxSessionDuration"] == 3600


BACKFILL = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"


def test_the_backfill_lists_uploads_sends_to_the_ingest_queue_and_runs_its_own_map_children(resources):
    properties = resources["BackfillStateMachine"]["Properties"]
    assert properties["Name"] == {"Fn::Sub": "${AWS::StackName}-backfill"}  # what its grants below name
    statements = granted(properties["Policies"])
    logs = statements.pop("DeliverExecutionLogs")
    assert (
        logs == granted(resources["CutoutStateMachine"]["Properties"]["Policies"][5:])["DeliverExecutionLogs"]
    )
    assert statements == {
        "ListUploads": (
            {"s3:ListBucket"},
            {"Fn::GetAtt": ["InputBucket", "Arn"]},
            {"StringLike": {"s3:prefix": {"Fn::Sub": "${InputPrefix}*"}}},
        ),
        # the queue is under SQS-managed encryption: no KMS grant
        "SendBackfillMessages": ({"sqs:SendMessage"}, {"Fn::GetAtt": ["IngestQueue", "Arn"]}, None),
        "RunMapChildExecutions": (
            {"states:StartExecution"},
            {"Fn::Sub": f"{BACKFILL}:stateMachine:${{AWS::StackName}}-backfill"},
            None,
        ),
        "FollowMapChildExecutions": (
            {"states:DescribeExecution", "states:StopExecution"},
            {"Fn::Sub": f"{BACKFILL}:execution:${{AWS::StackName}}-backfill/*:*"},
            None,
        ),
    }
    assert resources["IngestQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in resources["IngestQueue"]["Properties"]
