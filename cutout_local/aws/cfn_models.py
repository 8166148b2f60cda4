"""CloudFormation for moto 5.2.5: what our templates need and moto lacks, and the table of what is emulated.

moto's CloudFormation skips resource types it has no model for (every ``Ref`` to them then resolves to
nothing and the referring property disappears) and each model reads only some properties. This module adds:

- models for ``AWS::SecretsManager::Secret``, ``AWS::SQS::QueuePolicy``, ``AWS::CloudWatch::Alarm``,
  ``AWS::CloudWatch::Dashboard`` and ``AWS::S3::BucketPolicy`` (accepted, not applied: see
  :data:`COVERAGE`); they are offered to moto through ``parsing.get_model_list`` only while the patches
  are installed (see ``patches.py``);
- replacements for the create functions of ``AWS::S3::Bucket`` (+ notification, public access block,
  versioning), ``AWS::Lambda::Function`` (every property we use; environment values as strings, as
  CloudFormation passes them; ``DeadLetterConfig`` kept for eventbridge.py, ``LoggingConfig.LogGroup``
  for lambda_runtime.py), ``AWS::Lambda::LayerVersion``
  (keeps ``LayerName``; ``Ref`` is the version ARN) and ``AWS::StepFunctions::StateMachine`` (created in
  the *executing* backend, definition read from S3, ``DefinitionSubstitutions`` applied by plain ``${Name}``
  replacement: never ``Fn::Sub``, which turns ``$$`` into ``$`` in moto);
- :data:`COVERAGE`, which ``sam.check_supported`` enforces: a template resource type or property that is not
  listed is refused rather than silently dropped.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any, ClassVar, cast

EMULATED = "emulated"

_STATIC = "checked statically (cfn-lint, sam validate, tests/template)"
_IAM = "IAM is not enforced locally; " + _STATIC

#: resource type -> property -> EMULATED, or why it is accepted without effect. Anything else is refused.
COVERAGE: dict[str, dict[str, str]] = {
    "AWS::S3::Bucket": {
        "BucketName": EMULATED,
        "BucketEncryption": EMULATED,
        "NotificationConfiguration": EMULATED,
        "PublicAccessBlockConfiguration": "stored (get_public_access_block shows it); "
        "nothing is public locally anyway",
        "VersioningConfiguration": EMULATED,
        "OwnershipControls": "not emulated; " + _STATIC,
        "LifecycleConfiguration": "not emulated: objects never expire locally; " + _STATIC,
        "Tags": EMULATED,
    },
    "AWS::S3::BucketPolicy": {
        "Bucket": "not applied: moto 5.2.5 evaluates a Deny without its Condition, so the TLS-only Deny "
        "would refuse every request; " + _STATIC,
        "PolicyDocument": "not applied (see Bucket); " + _STATIC,
    },
    "AWS::SQS::Queue": {
        "QueueName": EMULATED,
        "VisibilityTimeout": EMULATED,
        "MessageRetentionPeriod": EMULATED,
        "ReceiveMessageWaitTimeSeconds": EMULATED,
        "DelaySeconds": EMULATED,
        "RedrivePolicy": EMULATED,
        "SqsManagedSseEnabled": EMULATED,
        "KmsMasterKeyId": EMULATED,
        "Tags": EMULATED,
    },
    "AWS::SQS::QueuePolicy": {"Queues": EMULATED, "PolicyDocument": "stored as the queue's Policy; " + _IAM},
    "AWS::Lambda::Function": {
        "FunctionName": EMULATED,
        "Code": EMULATED,
        "Handler": EMULATED,
        "Runtime": "stored; handlers run on this process's Python",
        "Role": EMULATED,
        "Description": EMULATED,
        "Timeout": EMULATED,
        "MemorySize": EMULATED,
        "Environment": EMULATED,
        "Layers": EMULATED,
        "Architectures": "stored; handlers run on this machine's architecture",
        "ReservedConcurrentExecutions": EMULATED,
        "TracingConfig": "stored; X-Ray is not emulated",
        "DeadLetterConfig": EMULATED,
        "LoggingConfig": "LogGroup emulated: each invocation's output goes to that group in CloudWatch Logs "
        "(else /aws/lambda/<name>), a stream per execution environment (lambda_runtime.py); LogFormat, "
        "ApplicationLogLevel and SystemLogLevel are not (the lines go as the function prints them, "
        "without Lambda's START/END/REPORT lines)",
        "Tags": EMULATED,
    },
    "AWS::Lambda::LayerVersion": {
        "LayerName": EMULATED,
        "Content": EMULATED,
        "Description": EMULATED,
        "CompatibleRuntimes": EMULATED,
        "CompatibleArchitectures": EMULATED,
        "LicenseInfo": EMULATED,
    },
    "AWS::Lambda::EventSourceMapping": {
        "FunctionName": EMULATED,
        "EventSourceArn": EMULATED,
        "BatchSize": EMULATED,
        "Enabled": EMULATED,
        "FunctionResponseTypes": EMULATED,
        "MaximumBatchingWindowInSeconds": "stored; batches are what has piled up when the poller receives",
        "ScalingConfig": EMULATED,
    },
    "AWS::Lambda::Permission": {
        "Action": EMULATED,
        "FunctionName": EMULATED,
        "Principal": EMULATED,
        "SourceArn": EMULATED,
        "SourceAccount": EMULATED,
    },
    "AWS::Events::Rule": {
        "Name": EMULATED,
        "Description": EMULATED,
        "EventPattern": EMULATED,
        "State": EMULATED,
        "Targets": "Lambda targets get the state machines' status change events, with their RetryPolicy and "
        "DeadLetterConfig (eventbridge.py); other targets and events are not delivered",
    },
    "AWS::IAM::Role": {
        "RoleName": EMULATED,
        "AssumeRolePolicyDocument": EMULATED,
        "Path": EMULATED,
        "Description": EMULATED,
        "MaxSessionDuration": "stored; moto's AssumeRole issues credentials for the duration asked",
        "Tags": EMULATED,
        "Policies": "stored; " + _IAM,
        "ManagedPolicyArns": "not attached; " + _IAM,
        "PermissionsBoundary": "stored; " + _IAM,
    },
    "AWS::StepFunctions::StateMachine": {
        "StateMachineName": EMULATED,
        "StateMachineType": EMULATED,
        "DefinitionString": EMULATED,
        "Definition": EMULATED,
        "DefinitionS3Location": EMULATED,
        "DefinitionSubstitutions": EMULATED,
        "RoleArn": EMULATED,
        "LoggingConfiguration": "stored; nothing is written to the log group",
        "TracingConfiguration": "stored; X-Ray is not emulated",
        "Tags": EMULATED,
    },
    "AWS::Logs::LogGroup": {
        "LogGroupName": EMULATED,
        "RetentionInDays": EMULATED,
        "Tags": EMULATED,
    },
    "AWS::SecretsManager::Secret": {
        "Name": EMULATED,
        "Description": EMULATED,
        "SecretString": EMULATED,
        "GenerateSecretString": EMULATED,
        "KmsKeyId": EMULATED,
        "Tags": EMULATED,
    },
    "AWS::CloudWatch::Alarm": {
        "AlarmName": EMULATED,
        "AlarmDescription": EMULATED,
        "Namespace": EMULATED,
        "MetricName": EMULATED,
        "Dimensions": EMULATED,
        "Statistic": EMULATED,
        "ExtendedStatistic": EMULATED,
        "Period": EMULATED,
        "EvaluationPeriods": EMULATED,
        "DatapointsToAlarm": EMULATED,
        "Threshold": EMULATED,
        "ComparisonOperator": EMULATED,
        "TreatMissingData": EMULATED,
        "Unit": EMULATED,
        "Metrics": EMULATED,
        "ActionsEnabled": EMULATED,
        "AlarmActions": "stored; alarms are never evaluated locally",
        "OKActions": "stored; alarms are never evaluated locally",
        "InsufficientDataActions": "stored; alarms are never evaluated locally",
    },
    "AWS::CloudWatch::Dashboard": {
        "DashboardName": EMULATED,
        "DashboardBody": "stored (GetDashboard returns it); nothing is drawn locally",
    },
    "AWS::DynamoDB::Table": {
        "TableName": EMULATED,
        "BillingMode": EMULATED,
        "AttributeDefinitions": EMULATED,
        "KeySchema": EMULATED,
        "GlobalSecondaryIndexes": EMULATED,
        "LocalSecondaryIndexes": EMULATED,
        "ProvisionedThroughput": EMULATED,
        "StreamSpecification": EMULATED,
        "SSESpecification": EMULATED,
        "DeletionProtectionEnabled": EMULATED,
        "Tags": EMULATED,
        "TimeToLiveSpecification": "not emulated: moto never expires items; " + _STATIC,
        "PointInTimeRecoverySpecification": "not emulated; " + _STATIC,
    },
    "AWS::SNS::Topic": {
        "TopicName": EMULATED,
        "DisplayName": EMULATED,
        "KmsMasterKeyId": EMULATED,
        "Subscription": "stored; nothing is delivered (alarms are never evaluated locally)",
    },
    "AWS::KMS::Key": {
        "Description": EMULATED,
        "KeyPolicy": "stored as moto keeps it (an object, on which its DescribeKey fails); key policies are "
        "not enforced locally, " + _STATIC,
        "EnableKeyRotation": EMULATED,
    },
}


def _partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


class _Model:
    """What moto's CloudFormation engine calls on a model class (duck-typed; not registered with moto until
    ``parsing.get_model_list`` is patched to offer it)."""

    #: the resource type it models, and the property that names a resource of it ("" if none)
    resource_type = ""
    name_property = ""
    #: ``Fn::GetAtt`` attribute -> the instance attribute that holds its value
    attributes: ClassVar[dict[str, str]] = {}
    physical_resource_id = ""

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.resource_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> _Model:
        """A model named ``resource_name`` (its ``Ref`` unless :meth:`create` says otherwise), created."""
        model = cls()
        model.physical_resource_id = resource_name
        model.create(cloudformation_json.get("Properties", {}), account_id, region_name)
        return model

    def create(self, props: dict[str, Any], account_id: str, region_name: str) -> None:
        """Create the resource in moto's backend from its ``Properties`` (nothing by default)."""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attr: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attr not in self.attributes:
            raise UnformattedGetAttTemplateException()
        # every attribute named in ``attributes`` holds a string (an id or an ARN)
        return cast(str, getattr(self, self.attributes[attr]))

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        """Nothing to remove beyond what ``moto`` resets."""


class SecretModel(_Model):
    """``Ref`` is the secret's ARN, as on AWS."""

    resource_type = "AWS::SecretsManager::Secret"
    name_property = "Name"
    attributes: ClassVar[dict[str, str]] = {"Id": "physical_resource_id"}

    def create(self, props: dict[str, Any], account_id: str, region_name: str) -> None:
        from moto.secretsmanager.models import secretsmanager_backends

        value, generate = props.get("SecretString"), props.get("GenerateSecretString")
        if value is None and generate is not None:
            value = _generate_secret_string(generate)
        out = secretsmanager_backends[account_id][region_name].create_secret(
            name=self.physical_resource_id,
            secret_string=value,
            secret_binary=None,
            description=props.get("Description"),
            tags=props.get("Tags"),
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        self.physical_resource_id = json.loads(out)["ARN"]

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.secretsmanager.models import secretsmanager_backends

        secretsmanager_backends[account_id][region_name].delete_secret(
            self.physical_resource_id, recovery_window_in_days=None, force_delete_without_recovery=True
        )


def _generate_secret_string(spec: dict[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?[]^_{|}~"
    alphabet = "".join(c for c in alphabet if c not in spec.get("ExcludeCharacters", ""))
    password = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "SecretStringTemplate" not in spec:
        return password
    return json.dumps({**json.loads(spec["SecretStringTemplate"]), spec["GenerateStringKey"]: password})


class QueuePolicyModel(_Model):
    resource_type = "AWS::SQS::QueuePolicy"

    def create(self, props: dict[str, Any], account_id: str, region_name: str) -> None:
        from moto.sqs.models import sqs_backends

        for url in props["Queues"]:
            sqs_backends[account_id][region_name].set_queue_attributes(
                url.rsplit("/", 1)[-1], {"Policy": json.dumps(props["PolicyDocument"])}
            )


class AlarmModel(_Model):
    """``Ref`` is the alarm name, ``GetAtt Arn`` its ARN."""

    resource_type = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"
    attributes: ClassVar[dict[str, str]] = {"Arn": "arn"}
    arn = ""

    def create(self, props: dict[str, Any], account_id: str, region_name: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        # moto annotates namespace, metric_name, period, statistic and description as required, yet its
        # own PutMetricAlarm passes None for each one the request leaves out (an alarm on Metrics has none)
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=self.physical_resource_id,
            namespace=props.get("Namespace"),  # type: ignore[arg-type]  # None if absent, as above
            metric_name=props.get("MetricName"),  # type: ignore[arg-type]  # None if absent, as above
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            period=int(props["Period"]) if "Period" in props else None,  # type: ignore[arg-type]  # as above
            threshold=float(props.get("Threshold", 0)),
            statistic=props.get("Statistic"),  # type: ignore[arg-type]  # None if absent, as above
            description=props.get("AlarmDescription"),  # type: ignore[arg-type]  # None if absent, as above
            dimensions=props.get("Dimensions", []),
            alarm_actions=props.get("AlarmActions", []),
            metric_data_queries=_metric_queries(props["Metrics"]) if "Metrics" in props else None,
            datapoints_to_alarm=int(props["DatapointsToAlarm"]) if "DatapointsToAlarm" in props else None,
            extended_statistic=props.get("ExtendedStatistic"),
            ok_actions=props.get("OKActions", []),
            insufficient_data_actions=props.get("InsufficientDataActions", []),
            unit=props.get("Unit"),
            actions_enabled=str(props.get("ActionsEnabled", True)).lower() == "true",
            treat_missing_data=props.get("TreatMissingData"),
        )
        self.arn = alarm.alarm_arn

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_alarms([self.physical_resource_id])


def _metric_queries(metrics: list[dict[str, Any]]) -> list[Any]:
    """CloudFormation ``Metrics`` -> the objects ``cloudwatch.responses.put_metric_alarm`` would build."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    queries = []
    for m in metrics:
        stat = m.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat["Metric"]
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=metric["MetricName"],
                    namespace=metric.get("Namespace"),
                    dimensions=[
                        Dimension(name=d["Name"], value=d["Value"]) for d in metric.get("Dimensions", [])
                    ],
                ),
                period=stat.get("Period"),
                stat=stat.get("Stat"),
                unit=stat.get("Unit"),
            )
        # moto annotates label, period and return_data as required strings, yet its own PutMetricAlarm
        # passes each as the request has it: None when absent (and Period, ReturnData not as strings)
        queries.append(
            MetricDataQuery(
                query_id=m["Id"],
                label=m.get("Label"),  # type: ignore[arg-type]  # as the request has it, as above
                period=m.get("Period"),  # type: ignore[arg-type]  # as the request has it, as above
                return_data=m.get("ReturnData"),  # type: ignore[arg-type]  # as the request has it, as above
                expression=m.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


class BucketPolicyModel(_Model):
    """Accepted and deliberately not applied (see :data:`COVERAGE`)."""

    resource_type = "AWS::S3::BucketPolicy"


#: model classes offered to moto's CloudFormation (types it has none for)
class DashboardModel(_Model):
    """``Ref`` is the dashboard's name, as on AWS."""

    resource_type = "AWS::CloudWatch::Dashboard"
    name_property = "DashboardName"

    def create(self, props: dict[str, Any], account_id: str, region_name: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].put_dashboard(
            self.physical_resource_id, props["DashboardBody"]
        )

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_dashboards([self.physical_resource_id])


EXTRA_MODELS = (SecretModel, QueuePolicyModel, AlarmModel, BucketPolicyModel, DashboardModel)


def _notification_for_api(cfn: dict[str, Any]) -> dict[str, Any]:
    """``NotificationConfiguration`` in CloudFormation's shape -> the S3 API shape moto stores."""

    def convert(items: list[dict[str, Any]] | None, target: str, api_target: str) -> list[dict[str, Any]]:
        out = []
        for item in filter(None, items or []):  # an Fn::If's AWS::NoValue arrives as None
            entry = {api_target: item[target], "Event": [item["Event"]]}
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                entry["Filter"] = {"S3Key": {"FilterRule": rules}}
            out.append(entry)
        return out

    api: dict[str, Any] = {
        "QueueConfiguration": convert(cfn.get("QueueConfigurations"), "Queue", "Queue"),
        "CloudFunctionConfiguration": convert(cfn.get("LambdaConfigurations"), "Function", "CloudFunction"),
        "TopicConfiguration": convert(cfn.get("TopicConfigurations"), "Topic", "Topic"),
    }
    if "EventBridgeConfiguration" in cfn:
        api["EventBridgeConfiguration"] = {}
    return api


def bucket_create(original: Any) -> Any:
    """Wrap moto's ``FakeBucket.create_from_cloudformation_json`` (it reads only encryption and tags)."""

    def create(
        cls: Any,
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> Any:
        from moto.s3.models import s3_backends

        bucket = original(cls, resource_name, cloudformation_json, account_id, region_name, **kw)
        backend = s3_backends[account_id][_partition(region_name)]
        props = cloudformation_json.get("Properties", {})
        if "PublicAccessBlockConfiguration" in props:
            backend.put_public_access_block(resource_name, props["PublicAccessBlockConfiguration"])
        if "VersioningConfiguration" in props:
            backend.put_bucket_versioning(resource_name, props["VersioningConfiguration"]["Status"])
        if "NotificationConfiguration" in props:
            backend.put_bucket_notification_configuration(
                resource_name, _notification_for_api(props["NotificationConfiguration"])
            )
        return bucket

    return classmethod(create)


_FUNCTION_SPEC = (
    "Code", "Handler", "Role", "Runtime", "Description", "Timeout", "MemorySize", "Layers",
    "Architectures", "ReservedConcurrentExecutions", "TracingConfig",
)  # fmt: skip


def function_create(
    cls: Any,
    /,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kw: Any,
) -> Any:
    """Replaces ``LambdaFunction.create_from_cloudformation_json``, which drops ``Layers``, ``Architectures``
    and ``Tags`` and keeps a Number parameter in an environment variable as a number. moto has no
    ``DeadLetterConfig``: it is kept on the function as ``dead_letter_config`` for the local asynchronous
    invocations (eventbridge.py); GetFunction does not show it. ``LoggingConfig.LogGroup`` becomes moto's
    ``logs_group_name`` (by default ``/aws/lambda/<name>``), where lambda_runtime.py writes the output;
    GetFunction does not show that either."""
    from moto.awslambda.utils import get_backend

    props = cloudformation_json["Properties"]
    spec: dict[str, Any] = {k: props[k] for k in _FUNCTION_SPEC if k in props}
    spec["FunctionName"] = resource_name
    variables = props.get("Environment", {}).get("Variables")
    if variables:
        spec["Environment"] = {"Variables": {k: _env_string(v) for k, v in variables.items()}}
    if props.get("Tags"):
        spec["Tags"] = {t["Key"]: t["Value"] for t in props["Tags"]}
    function = get_backend(account_id, region_name).create_function(spec)
    # moto has no DeadLetterConfig: an attribute of our own, for the asynchronous invocations
    function.dead_letter_config = props.get("DeadLetterConfig")  # type: ignore[attr-defined]  # see above
    log_group = props.get("LoggingConfig", {}).get("LogGroup")
    if log_group:
        function.logs_group_name = log_group  # moto's own attribute: where the runtime writes the output
    return function


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def layer_create(
    cls: Any,
    /,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kw: Any,
) -> Any:
    """Replaces ``LayerVersion.create_from_cloudformation_json`` (it drops ``CompatibleArchitectures``)."""
    from moto.awslambda.utils import get_backend

    props = cloudformation_json["Properties"]
    spec = {k: v for k, v in props.items() if k != "LayerName"}
    spec["LayerName"] = resource_name
    return get_backend(account_id, region_name).publish_layer_version(spec)


def state_machine_definition(props: dict[str, Any], account_id: str, region_name: str) -> str:
    """The ASL text of a state machine resource, with ``DefinitionSubstitutions`` applied as CloudFormation
    does: each ``${Name}`` replaced by its value, nothing else touched (``$$.Execution`` stays)."""
    text: str
    if "DefinitionString" in props:
        text = props["DefinitionString"]
    elif "Definition" in props:
        text = json.dumps(props["Definition"])
    else:
        from moto.s3.models import s3_backends

        loc = props["DefinitionS3Location"]
        backend = s3_backends[account_id][_partition(region_name)]
        definition = backend.get_object(loc["Bucket"], loc["Key"])
        assert definition is not None, f"no s3://{loc['Bucket']}/{loc['Key']} (sam.package uploads it)"
        text = definition.value.decode()
    for name, value in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + name + "}", _env_string(value))
    return text


def _lower_first(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k[:1].lower() + k[1:]: _lower_first(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_lower_first(v) for v in obj]
    return obj


def state_machine_create(
    cls: Any,
    /,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kw: Any,
) -> Any:
    """Replaces ``StateMachine.create_from_cloudformation_json``, which reads only ``DefinitionString`` and
    creates the machine in the static backend, invisible once ``execute_state_machine`` is on."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.utils import cfn_to_api_tags

    props = cloudformation_json["Properties"]
    return stepfunctions_parser_backends[account_id][region_name].create_state_machine(
        name=props.get("StateMachineName", resource_name),
        definition=state_machine_definition(props, account_id, region_name),
        roleArn=props.get("RoleArn", ""),
        tags=cfn_to_api_tags(props.get("Tags", [])),
        loggingConfiguration=_lower_first(props.get("LoggingConfiguration")),
        tracingConfiguration=_lower_first(props.get("TracingConfiguration")),
        sm_type=props.get("StateMachineType", "STANDARD"),
    )


def state_machine_delete(
    cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    stepfunctions_parser_backends[account_id][region_name].delete_state_machine(resource_name)
