"""Every moto-private patch point of the local stack, in one place. Pinned: moto 5.2.5.

moto offers no public hook for what the local stack needs, so while a ``LocalAws`` runs, the attributes
listed by :func:`patch_points` are replaced and the originals are put back by :func:`uninstall`. Each one can
silently stop taking effect when moto changes: :func:`install` refuses any other moto version, and
``tests/local_stack/aws`` has a test that fails if a patch no longer has its effect (test_canary.py first).

Replaced (module paths under ``moto.``), and why:

- ``awslambda.models.LambdaFunction._invoke_lambda``: runs the code in Docker; we run it in execution
  environments of our own, child processes of this one (lambda_runtime.py).
- ``awslambda.models.LambdaBackend.send_sqs_batch``: one invocation per message inside SendMessage, fake
  ``ApproximateReceiveCount``, ``batchItemFailures`` deleted as if successful (sqs_poller.py).
- ``stepfunctions.parser.models.StepFunctionsParserBackend.start_execution``: a start without ``name``
  names the execution "None", so the second one fails; AWS uses a UUID.
- ``stepfunctions.parser.backend.execution.BaseExecutionWorkerCommunication.terminated``: an execution
  that ends sends no EventBridge status change event; the local one is sent from there (eventbridge.py).
- ``stepfunctions.parser.asl.parse.asl_parser.AmazonStateLanguageParser.parse``: every execution parses
  its definition again with ANTLR (about 50 ms of CPU for the product's ASL, in this process, which also
  serves every AWS call); the parse tree of a definition is kept and each execution still gets a program
  of its own from it (moto's preprocessing, about 10 ms), so no state is shared between executions.
  A definition is read first as ``distributed_map.emulated_definition`` has it: a Distributed Map feature
  the emulator would not run as AWS does is refused there, at deploy, naming the field.
- ``stepfunctions.parser...item_reader.eval.resource_eval_s3.ResourceEvalS3._handle_list_objects_v2``,
  ``...iteration.distributed_iteration_component.DistributedIterationComponent._map_run`` and
  ``...itemprocessor.distributed_item_processor_worker.DistributedItemProcessorWorker._eval_job``: a
  Distributed Map over an S3 listing reads one page only, fails on an empty one, hands items boto3's
  shape, ignores its tolerated failures and miscounts its items (distributed_map.py).
- ``events.models.Rule.send_to_targets``: a disabled rule delivers, an SQS target gets the event without
  ``account`` and with its fields filled in by text replacement, a Lambda target fails the whole PutEvents;
  rules deliver as EventBridge does (eventbridge.py).
- ``sqs.models.Queue.wait_for_messages``: a ``ReceiveMessage`` long poll waits there holding the emulator's
  dispatch lock, which the message it waits for needs; it lets go of it while it waits (moto_server.py).
- ``s3.notifications._get_s3_event``: moto's S3 records carry no ``sequencer`` (nor a version id):
  the order of two uploads of one key is lost; each record gets one, strictly increasing (s3_events.py).
- ``s3.responses.metadata_from_headers``: moto stores user metadata of any size; S3 refuses more than
  2 KB of it (the UTF-8 bytes of each name, after ``x-amz-meta-``, and value, summed) with 400
  ``MetadataTooLarge`` (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html), and so
  does the emulator.
- ``cloudformation.parsing.get_model_list``: no model for ``AWS::SecretsManager::Secret``,
  ``AWS::SQS::QueuePolicy``, ``AWS::CloudWatch::Alarm``, ``AWS::S3::BucketPolicy`` (cfn_models.py).
- ``s3.models.S3Backend.delete_object``: a versioned bucket's delete marker notifies nothing, and a
  version deleted by its id only when it was the last, without its version id; S3 notifies both
  (s3_events.py; moto's own removal events are held back while it runs).
- ``s3.models.FakeBucket.create_from_cloudformation_json``: drops ``NotificationConfiguration``,
  ``PublicAccessBlockConfiguration``, ``VersioningConfiguration``.
- ``awslambda.models.LambdaFunction.create_from_cloudformation_json``: drops ``Layers``,
  ``Architectures``, ``Tags``, ``TracingConfig``, ``LoggingConfig``; keeps a number in ``Environment`` as
  a number.
- ``awslambda.models.LayerVersion.create_from_cloudformation_json``, ``.cloudformation_name_type``,
  ``.physical_resource_id`` (added): drops ``CompatibleArchitectures``, ignores ``LayerName``, and a
  ``Ref`` to a layer version is None.
- ``stepfunctions.models.StateMachine.create_from_cloudformation_json`` and
  ``.delete_from_cloudformation_json``: reads only ``DefinitionString``, ignores
  ``DefinitionSubstitutions``, and uses the static backend, which is not the one that serves the API
  once ``execute_state_machine`` is on.
- fast time only: ``stepfunctions.parser.asl.component.state.wait.wait_function.WaitFunction
  ._wait_interval`` (a Wait returns at once and records its seconds) and
  ``stepfunctions.parser.asl.component.common.retry.retrier_decl.time`` (a Retry interval is recorded,
  not slept).
"""

from __future__ import annotations

import types
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from cutout_local.aws import cfn_models, distributed_map, s3_events
from cutout_local.aws.eventbridge import StatusChanges, rule_delivery

MOTO_VERSION = "5.2.5"

_MISSING = object()


@dataclass(frozen=True)
class Patch:
    owner: Any
    attribute: str
    replacement: Any
    why: str
    adds: bool = False
    """True: moto has no such attribute and we add one. False: a missing attribute means moto moved it."""


def patch_points(
    invoke: Callable[..., tuple[str, bool, str]],
    deliver: Callable[..., bool],
    released: Callable[[], AbstractContextManager[object]],
    status_changes: StatusChanges,
    waits: list[float] | None = None,
    retry_sleeps: list[float] | None = None,
) -> list[Patch]:
    """The patches, given the runtime's ``invoke(fn, event)``, the SQS ``deliver(backend, arn, messages,
    queue_arn)``, the dispatch lock's ``released()``, the EventBridge ``status_changes`` and, for fast time,
    the lists that record Wait seconds and Retry intervals."""
    from moto.awslambda.models import LambdaBackend, LambdaFunction, LayerVersion
    from moto.cloudformation import parsing
    from moto.events.models import Rule
    from moto.s3.models import FakeBucket, S3Backend
    from moto.sqs.models import Queue
    from moto.stepfunctions.models import StateMachine

    state_map = "moto.stepfunctions.parser.asl.component.state.exec.state_map"
    ResourceEvalS3 = import_module(f"{state_map}.item_reader.eval.resource_eval_s3").ResourceEvalS3
    DistributedIterationComponent = import_module(
        f"{state_map}.iteration.distributed_iteration_component"
    ).DistributedIterationComponent
    DistributedItemProcessorWorker = import_module(
        f"{state_map}.iteration.itemprocessor.distributed_item_processor_worker"
    ).DistributedItemProcessorWorker
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original_start = StepFunctionsParserBackend.start_execution
    original_models = parsing.get_model_list
    bound_bucket = FakeBucket.create_from_cloudformation_json
    assert isinstance(bound_bucket, types.MethodType)  # a classmethod read on its class: bound to it
    original_bucket = bound_bucket.__func__
    original_delete = S3Backend.delete_object
    original_wait_for_messages = Queue.wait_for_messages
    original_terminated = BaseExecutionWorkerCommunication.terminated
    original_send_to_targets = Rule.send_to_targets
    from moto.s3 import notifications
    from moto.s3 import responses as s3_responses

    original_event = notifications._get_s3_event

    # not re-exported (responses.py imports it from moto.s3.utils), but responses.py calls it by this name
    original_metadata = s3_responses.metadata_from_headers  # type: ignore[attr-defined]  # read where patched
    original_parse = AmazonStateLanguageParser.parse
    original_map_run = DistributedIterationComponent._map_run
    original_eval_job = DistributedItemProcessorWorker._eval_job
    parse_trees: dict[str, Any] = {}

    def start_execution(
        self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kw: Any
    ) -> Any:
        return original_start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kw)

    def invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return invoke(self, event)

    def send_sqs_batch(self: Any, function_arn: str, messages: list[Any], queue_arn: str) -> bool:
        return deliver(self, function_arn, messages, queue_arn)

    def wait_for_messages(self: Any, timeout: int) -> None:
        with released():
            original_wait_for_messages(self, timeout)

    def terminated(self: Any) -> None:
        with status_changes.ending():
            original_terminated(self)
            status_changes.execution_ended(self.execution)

    def parse(definition: str) -> tuple[Any, Any]:
        tree = parse_trees.get(definition)
        if tree is None:
            try:
                emulated = distributed_map.emulated_definition(definition)
            except distributed_map.UnemulatedDefinitionError as exc:
                raise ASLParserException(
                    [f"the local AWS emulation refuses this definition: {exc}"]
                ) from None
            program, tree = original_parse(emulated)  # a definition with a syntax error raises here
            parse_trees[definition] = tree
            return program, tree
        return Preprocessor().visit(tree), tree

    def models() -> list[Any]:
        return [*original_models(), *cfn_models.EXTRA_MODELS]

    def metadata_from_headers(headers: Any) -> Any:
        metadata = original_metadata(headers)
        check_user_metadata_size(metadata)
        return metadata

    cfn = "create_from_cloudformation_json"
    patches = [
        Patch(LambdaFunction, "_invoke_lambda", invoke_lambda, "Lambda code runs in local environments"),
        Patch(LambdaBackend, "send_sqs_batch", send_sqs_batch, "SQS batches are delivered like the poller's"),
        Patch(Queue, "wait_for_messages", wait_for_messages, "an SQS long poll lets other requests in"),
        Patch(StepFunctionsParserBackend, "start_execution", start_execution, "a nameless start gets a UUID"),
        Patch(Rule, "send_to_targets", rule_delivery(original_send_to_targets), "rules deliver as on AWS"),
        Patch(BaseExecutionWorkerCommunication, "terminated", terminated, "executions send status changes"),
        Patch(AmazonStateLanguageParser, "parse", staticmethod(parse), "a definition is parsed once"),
        Patch(
            ResourceEvalS3,
            "_handle_list_objects_v2",
            staticmethod(distributed_map.list_objects_v2),
            "a listing is read whole, in AWS's item shape",
        ),
        Patch(
            DistributedIterationComponent,
            "_map_run",
            distributed_map.map_run(original_map_run),
            "a map run fails past its tolerated failures",
        ),
        Patch(
            DistributedItemProcessorWorker,
            "_eval_job",
            distributed_map.eval_job(original_eval_job),
            "a map run counts its items as AWS does",
        ),
        Patch(parsing, "get_model_list", models, "CloudFormation models for the types moto lacks"),
        Patch(s3_responses, "metadata_from_headers", metadata_from_headers, "S3's 2 KB user-metadata limit"),
        Patch(FakeBucket, cfn, cfn_models.bucket_create(original_bucket), "bucket notification and settings"),
        Patch(
            S3Backend, "delete_object", s3_events.delete_object(original_delete), "deletions notify as on S3"
        ),
        Patch(
            notifications, "_get_s3_event", s3_events.object_event(original_event), "S3 records: sequencer"
        ),
        Patch(
            LambdaFunction, cfn, classmethod(cfn_models.function_create), "function Layers, env as strings"
        ),
        Patch(LayerVersion, cfn, classmethod(cfn_models.layer_create), "layer CompatibleArchitectures"),
        Patch(LayerVersion, "cloudformation_name_type", staticmethod(lambda: "LayerName"), "layer LayerName"),
        Patch(LayerVersion, "physical_resource_id", property(lambda lv: lv.arn), "Ref to a layer", adds=True),
        Patch(StateMachine, cfn, classmethod(cfn_models.state_machine_create), "state machine that executes"),
        Patch(
            StateMachine,
            "delete_from_cloudformation_json",
            classmethod(cfn_models.state_machine_delete),
            "delete_stack deletes the executing state machine",
        ),
    ]
    if waits is not None and retry_sleeps is not None:
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
            WaitFunction,
        )

        def wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
            waits.append(wait_seconds)

        patches += [
            Patch(WaitFunction, "_wait_interval", wait_interval, "fast Wait"),
            Patch(retrier_decl, "time", types.SimpleNamespace(sleep=retry_sleeps.append), "fast Retry"),
        ]
    return patches


USER_METADATA_LIMIT = 2048  # bytes, S3's limit on user-defined metadata per object
_META_PREFIX = "x-amz-meta-"


def check_user_metadata_size(metadata: Any) -> None:
    """S3's limit: the UTF-8 bytes of every user metadata name (without ``x-amz-meta-``) and value,
    summed, at most 2 KB; past it, 400 MetadataTooLarge as S3 answers."""
    from moto.s3.exceptions import S3ClientError

    size = sum(
        len(str(name)[len(_META_PREFIX) :].encode()) + len(str(value).encode())
        for name, value in metadata.items()
        if str(name).lower().startswith(_META_PREFIX)
    )
    if size > USER_METADATA_LIMIT:
        raise S3ClientError(
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size "
            f"({size} > {USER_METADATA_LIMIT} bytes)",
        )


_installed: list[tuple[Patch, Any]] = []


def install(patches: list[Patch]) -> None:
    """Apply ``patches``; refuses a moto other than :data:`MOTO_VERSION` and a second installation."""
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"cutout_local.aws patches moto internals and is pinned to moto {MOTO_VERSION}; found "
            f"{moto.__version__}. Re-check every patch point in {__name__} before changing the pin."
        )
    if _installed:
        raise RuntimeError("the local AWS patches are already installed: one LocalAws per process at a time")
    for patch in patches:
        if hasattr(patch.owner, patch.attribute) == patch.adds:
            uninstall()
            state = "already has" if patch.adds else "has no"
            raise RuntimeError(f"moto {state} {patch.owner.__name__}.{patch.attribute} ({patch.why})")
        _installed.append((patch, patch.owner.__dict__.get(patch.attribute, _MISSING)))
        setattr(patch.owner, patch.attribute, patch.replacement)
    _clear_model_caches()


def uninstall() -> None:
    """Put every original back (idempotent)."""
    while _installed:
        patch, original = _installed.pop()
        if original is _MISSING:
            delattr(patch.owner, patch.attribute)
        else:
            setattr(patch.owner, patch.attribute, original)
    _clear_model_caches()


def active() -> list[Patch]:
    """The patches installed now."""
    return [patch for patch, _ in _installed]


def _clear_model_caches() -> None:
    from moto.cloudformation import parsing

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
