"""A Distributed Map over an S3 listing, run by moto 5.2.5 as Step Functions runs it, for the local stack;
or refused at deploy where the emulator would silently differ. moto's gaps, each closed here:

- its ASL grammar knows only ``"ExecutionType": "STANDARD"`` for an item processor, and reads
  ``ToleratedFailurePercentage`` only as a number with a fraction (``0`` fails to parse): the definition is
  read with ``EXPRESS`` as ``STANDARD`` (items run in this process either way, once each) and an integer
  percentage as a float (:func:`emulated_definition`);
- ``ItemBatcher``, ``ResultWriter``, an ``ItemReader`` other than ``s3:listObjectsV2`` or one with a
  ``ReaderConfig``: moto ignores or half-runs them, so a definition that uses one is refused, naming it;
- the ListObjectsV2 reader reads one page (1,000 objects), fails on an empty listing (``KeyError
  'Contents'``) and hands each item boto3's shape (``ETag``, ``LastModified`` a datetime, which breaks
  DescribeExecution): :func:`list_objects_v2` pages through the whole listing and gives each object the
  fields Step Functions documents, ``Etag``, ``Key``, ``LastModified`` (epoch seconds), ``Size``,
  ``StorageClass`` (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html);
- ``ToleratedFailurePercentage``/``Count`` are parsed and ignored: a map run with failed items succeeds.
  :func:`map_run` fails it with ``States.ExceedToleratedFailureThreshold`` once its items have run when
  more failed than tolerated (Step Functions may fail it sooner, as soon as the threshold is passed);
- DescribeMapRun's counts: ``total`` grows as items start, ``pending`` stays 0, and a failed child stays
  ``running`` in ``executionCounts``; here ``total`` and ``pending`` are every item once the listing is
  read, and nothing is left running when the map run ends (:func:`eval_job`, :func:`map_run`).

moto runs a Distributed Map's items as threads of the parent execution, at most ``MaxConcurrency`` at a
time (its worker count), not as child executions: ListExecutions shows none of them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

REFUSED_MAP_FIELDS = ("ItemBatcher", "ResultWriter")
LIST_OBJECTS_V2 = ":states:::s3:listObjectsV2"
THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"


class UnemulatedDefinitionError(ValueError):
    """A state machine definition uses a Distributed Map feature that the emulator would not run as AWS
    does."""


def emulated_definition(definition: str) -> str:
    """``definition`` as moto's parser can read it (see the module's docstring); raises
    :class:`UnemulatedDefinitionError` naming the state and field the emulator would not run as AWS does.
    Text that is not JSON is handed on as it is, for moto's parser to report."""
    try:
        document = json.loads(definition)
    except ValueError:
        return definition
    changed = False
    for name, state in _map_states(document):
        processor = state.get("ItemProcessor") or {}
        config = processor.get("ProcessorConfig") or {}
        if config.get("Mode") != "DISTRIBUTED":
            continue
        for field in REFUSED_MAP_FIELDS:
            if field in state:
                raise UnemulatedDefinitionError(
                    f"state {name!r}: {field} is not emulated (moto would ignore it and the run would "
                    "differ from AWS); remove it or run this state machine on AWS"
                )
        reader = state.get("ItemReader")
        if reader is not None:
            resource = str(reader.get("Resource", ""))
            if not resource.endswith(LIST_OBJECTS_V2):
                raise UnemulatedDefinitionError(
                    f"state {name!r}: ItemReader.Resource {resource!r} is not emulated; only "
                    "arn:<partition>:states:::s3:listObjectsV2 is"
                )
            if "ReaderConfig" in reader:
                raise UnemulatedDefinitionError(
                    f"state {name!r}: ItemReader.ReaderConfig is not emulated for s3:listObjectsV2"
                )
        if config.get("ExecutionType") == "EXPRESS":
            config["ExecutionType"] = "STANDARD"
            changed = True
        percentage = state.get("ToleratedFailurePercentage")
        if type(percentage) is int:
            state["ToleratedFailurePercentage"] = float(percentage)
            changed = True
    return json.dumps(document) if changed else definition


def _map_states(document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Map state of a definition, those of nested processors and branches too."""
    states = document.get("States") if isinstance(document, dict) else None
    for name, state in (states or {}).items():
        if not isinstance(state, dict):
            continue
        if state.get("Type") == "Map":
            yield name, state
        for nested in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            yield from _map_states(nested)


def epoch_seconds(value: Any) -> Any:
    """A listing's LastModified as Step Functions hands it to an item: whole seconds since the epoch."""
    return int(value.timestamp()) if hasattr(value, "timestamp") else value


def list_objects_v2(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """Replaces ``ResourceEvalS3._handle_list_objects_v2``: every page, an empty listing as no items, each
    object in the shape Step Functions gives it."""
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    s3 = boto_client_for(
        region=resource_runtime_part.region, service="s3", state_credentials=state_credentials
    )
    parameters = env.stack.pop()
    items = []
    for page in s3.get_paginator("list_objects_v2").paginate(**parameters):
        items += [
            {
                "Etag": obj["ETag"],
                "Key": obj["Key"],
                "LastModified": epoch_seconds(obj["LastModified"]),
                "Size": obj["Size"],
                "StorageClass": obj.get("StorageClass", "STANDARD"),
            }
            for obj in page.get("Contents", [])
        ]
    env.stack.append(items)


def _counters(record: Any) -> tuple[Any, Any]:
    return record.item_counter, record.execution_counter


def eval_job(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``DistributedItemProcessorWorker._eval_job``: an item is counted in ``total`` (and
    ``pending``) once, when the listing is read (:func:`map_run`), not again when it starts."""

    def run(self: Any, env: Any, job: Any) -> None:
        for counter in _counters(self._map_run_record):
            counter.total.offset(-1)
            counter.pending.offset(-1)
        original(self, env, job)

    return run


def map_run(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``DistributedIterationComponent._map_run``: count every item up front, leave none running at
    the end, and fail the map run when more items failed than ToleratedFailurePercentage/Count allow."""

    def run(self: Any, env: Any, eval_input: Any) -> None:
        record = eval_input.map_run_record
        items = len(env.stack[-1])
        for counter in _counters(record):
            counter.total.offset(items)
            counter.pending.offset(items)
        try:
            original(self, env, eval_input)
        finally:
            for counter in _counters(record):
                counter.running.offset(-counter.running.get())
        _check_tolerance(env, record)

    return run


def exceeds_tolerance(failed: int, total: int, percentage: float, count: int) -> bool:
    """Step Functions fails a map run when its failed items are more than ToleratedFailureCount or more
    than ToleratedFailurePercentage of its items; with neither, when any failed. moto records a field left
    out as 0, so a 0 beside the other field set is read as left out."""
    if not (percentage or count):
        return failed > 0
    over_count = bool(count) and failed > count
    over_percentage = bool(percentage) and failed * 100 > percentage * total
    return over_count or over_percentage


def _check_tolerance(env: Any, record: Any) -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    items = record.item_counter
    failed = items.failed.get() + items.timed_out.get() + items.aborted.get()
    total = items.total.get()
    percentage, count = record.tolerated_failure_percentage, record.tolerated_failure_count
    if not exceeds_tolerance(failed, total, percentage, count):
        return
    cause = (
        f"{failed} of {total} items failed, more than ToleratedFailurePercentage ({percentage:g}) or "
        f"ToleratedFailureCount ({count}) allow"
    )
    raise FailureEventException(
        FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold),
            event_type=HistoryEventType.MapRunFailed,
            # moto declares EventDetails total, yet builds it with the one key that applies, as here
            event_details=EventDetails(  # type: ignore[typeddict-item]  # see above
                mapRunFailedEventDetails=MapRunFailedEventDetails(error=THRESHOLD_ERROR, cause=cause)
            ),
        )
    )
