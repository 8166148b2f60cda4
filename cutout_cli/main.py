"""The ``cutout`` command (Click, with Rich for tables and progress). Every command takes ``--stack NAME``
(else the local stack of ``make up``), ``--region``, ``--profile`` and ``--json``; see README "The
cutout command". Exit statuses: 0 done; 1 at least one upload failed; 2 a usage error; 3 no such stack,
upload or outcome (or nothing running locally); 4 AWS refused (credentials, access); 5 --timeout passed;
130 Ctrl-C."""

from __future__ import annotations

import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cutout.errors import UnsupportedInputError
from cutout.options import METADATA_PREFIX
from cutout.options import resolve as resolve_options
from cutout.outcomes import all_outcomes
from cutout.reprocessing import failed_uploads, request_reprocess
from cutout.state import SourceObject
from cutout_cli import backfills, queues
from cutout_cli.stacks import (
    FAILED,
    INTERRUPTED,
    NOT_FOUND,
    TIMED_OUT,
    CliError,
    Stack,
    aws_errors,
    resolve,
)
from cutout_cli.status import iso, status_lines, upload_status
from cutout_cli.tracking import Awaited, Landed, Tracker
from cutout_cli.watching import event_line, outcome_line, plural, read_events, subscribe, unsubscribe

F = TypeVar("F", bound=Callable[..., Any])
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
UPLOADERS = 8


def main(argv: list[str] | None = None) -> int:
    """Run the command; its exit status (CliError's, Click's 2 for a usage error, 130 for Ctrl-C)."""
    try:
        status = cli.main(args=argv, prog_name="cutout", standalone_mode=False)
    except CliError as exc:
        err.print(f"cutout: {exc}", markup=False)
        return exc.status
    except click.exceptions.Abort:
        err.print("cutout: stopped by Ctrl-C", markup=False)
        return INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("\ncutout: stopped by Ctrl-C", markup=False)
        return INTERRUPTED
    return status if isinstance(status, int) else 0


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """Cutout: drop images in, get cutouts out. Talks to the local stack while `make up` runs, or to a
    deployed stack with --stack NAME (or CUTOUT_STACK)."""


def stack_options(command: F) -> F:
    """--stack, --region, --profile, --json: every command's."""
    options = [
        click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout, for scripts."),
        click.option("--profile", help="AWS profile (as the AWS CLI takes it)."),
        click.option("--region", help="AWS region (default: the profile's, or AWS_REGION)."),
        click.option(
            "--stack",
            envvar="CUTOUT_STACK",
            metavar="NAME",
            help="A deployed stack (env CUTOUT_STACK); default: the local stack of `make up`.",
        ),
    ]
    for option in options:
        command = option(command)
    return command


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# --- push -------------------------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--prefix", default="", help="Put the uploads under this prefix (within the input prefix).")
@click.option("--wait", is_flag=True, help="Wait for every outcome, with a progress bar and a final table.")
@click.option("--download", type=click.Path(file_okay=False, path_type=Path), help="Save the cutouts here.")
@click.option(
    "--option", "-o", "options", multiple=True, metavar="NAME=VALUE", help="An output option (repeatable)."
)
@click.option("--timeout", type=float, metavar="SECONDS", help="With --wait: give up after this long.")
@stack_options
def push(
    paths: tuple[Path, ...],
    prefix: str,
    wait: bool,
    download: Path | None,
    options: tuple[str, ...],
    timeout: float | None,
    stack: str | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
) -> int:
    """Upload FILES or DIRs (their images, recursively); with --wait, follow them to their outcomes."""
    files = list(_files(paths))
    if not files:
        raise click.UsageError("no files to push (hidden files are left out)")
    metadata = _metadata(options)
    with aws_errors():
        target = resolve(stack, region, profile)
        base = target.upload_key(prefix) if prefix else target.input_prefix
        base = base if not base or base.endswith("/") else f"{base}/"
        uploads = [(path, f"{base}{name}") for path, name in files]
        sources = _upload(target, uploads, metadata, as_json)
        result: dict[str, Any] = {"uploaded": [s.to_dict() for s in sources], "outcomes": [], "pending": []}
        if not (wait or download):
            if as_json:
                _print_json(result)
            else:
                for source in sources:
                    out.print(f"  ↑ s3://{source.bucket}/{source.key}", markup=False)
                out.print("Follow them with `cutout watch`, or `cutout status KEY`.", markup=False)
            return 0
        return _follow(target, [Awaited(s) for s in sources], download, timeout, as_json, result)


def _files(paths: tuple[Path, ...]) -> Iterator[tuple[Path, str]]:
    """Each file and the name it gets: a file its own name, a directory's files their path within it."""
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = file.relative_to(path)
                if not any(part.startswith(".") for part in relative.parts):
                    yield file, relative.as_posix()
        elif not path.name.startswith("."):
            yield path, path.name


def _metadata(options: tuple[str, ...]) -> dict[str, str]:
    """``name=value`` options as the upload's user metadata (``cutout-<name>``), checked as admission
    will check them, so that a bad one is refused before anything is uploaded."""
    metadata = {}
    for option in options:
        name, equals, value = option.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"{option!r} is not NAME=VALUE", param_hint="--option")
        metadata[f"{METADATA_PREFIX}{name.strip().lower()}"] = value.strip()
    try:
        resolve_options("", "", "any.png", metadata)
    except UnsupportedInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--option") from exc
    return metadata


def _upload(
    stack: Stack, uploads: list[tuple[Path, str]], metadata: dict[str, str], quiet: bool
) -> list[SourceObject]:
    s3 = stack.client("s3")

    def put(item: tuple[Path, str]) -> SourceObject:
        path, key = item
        with path.open("rb") as body:
            response = s3.put_object(Bucket=stack.input_bucket, Key=key, Body=body, Metadata=metadata)
        return SourceObject(
            stack.input_bucket, key, version_id=response.get("VersionId"), etag=response["ETag"].strip('"')
        )

    with _progress(quiet) as progress, ThreadPoolExecutor(UPLOADERS) as pool:
        task = progress.add_task("uploading", total=len(uploads))
        sources = []
        for source in pool.map(put, uploads):
            sources.append(source)
            progress.advance(task)
    return sources


def _progress(quiet: bool) -> Progress:
    """A progress bar on stderr, when it is a terminal and the output is not JSON."""
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
        transient=True,
    )


def _follow(
    stack: Stack,
    awaited: list[Awaited],
    download: Path | None,
    timeout: float | None,
    as_json: bool,
    result: dict[str, Any],
) -> int:
    """Wait for the outcomes of ``awaited``: a progress bar, then a table (or ``result`` as JSON)."""
    tracker = Tracker(stack, awaited)
    landed: list[Landed] = []
    with _progress(as_json) as progress:
        task = progress.add_task("outcomes", total=len(awaited))

        def on_landed(one: Landed) -> None:
            landed.append(one)
            progress.advance(task)
            if download is not None and one.ok:
                _download(stack, one.outcome.keys, download)
            if not as_json:
                progress.console.print(_landed_line(stack, one), markup=False)

        finished = tracker.wait(on_landed, timeout=timeout, interval=0.5 if stack.local else 2.0)
    pending = [upload.source.key for upload in tracker.pending.values()]
    result["outcomes"] = [one.to_dict(stack.output_bucket) for one in landed]
    result["pending"] = pending
    failed = sum(not one.ok for one in landed)
    if as_json:
        _print_json(result)
    else:
        _summary(stack, landed, pending, download)
    if not finished:
        if not as_json:
            err.print(
                f"cutout: {plural(len(pending), 'outcome')} not there after {timeout:g} s", markup=False
            )
        return TIMED_OUT
    return FAILED if failed else 0


def _landed_line(stack: Stack, one: Landed) -> str:
    name = one.source.key.removeprefix(stack.input_prefix)
    if one.ok:
        return outcome_line(name, list(one.outcome.keys), failed=False, seconds=one.seconds)
    error, reason = one.outcome.failure or ("", "")
    return outcome_line(
        name, [one.outcome.key], failed=True, seconds=one.seconds, reason=f"{error}: {reason}"
    )


def _summary(stack: Stack, landed: list[Landed], pending: list[str], download: Path | None) -> None:
    table = Table(title=None, show_edge=False, pad_edge=False)
    for column in ("upload", "outcome", "seconds"):
        table.add_column(column, justify="right" if column == "seconds" else "left", overflow="fold")
    for one in sorted(landed, key=lambda o: o.source.key):
        if one.ok:
            what = "✓ " + ", ".join(one.outcome.keys)
        else:
            error, reason = one.outcome.failure or ("", "")
            what = f"✗ {error}: {reason}"
        table.add_row(one.source.key.removeprefix(stack.input_prefix), what, f"{one.seconds:.1f}")
    for key in pending:
        table.add_row(key.removeprefix(stack.input_prefix), "… no outcome yet", "")
    out.print(table)
    cutouts = sum(one.ok for one in landed)
    line = f"{plural(cutouts, 'cutout')}, {len(landed) - cutouts} failed, {len(pending)} pending"
    if download is not None:
        line += f"; cutouts saved in {download}"
    out.print(line, markup=False)


def _download(stack: Stack, keys: tuple[str, ...] | list[str], into: Path) -> list[Path]:
    """Save output ``keys`` under ``into``: a cutout named as in the bucket without the output prefix
    (``cutouts/albums/cat.png`` → ``albums/cat.png``), a variant with its whole key
    (``variants/thumb/albums/cat.webp``), so that no variant can take a cutout's name."""
    s3, saved = stack.client("s3"), []
    for key in keys:
        path = into / (key.removeprefix(stack.output_prefix) if key.startswith(stack.output_prefix) else key)
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(stack.output_bucket, key, str(path))
        saved.append(path)
    return saved


# --- watch, ls, get, status ---------------------------------------------------------------------------


@cli.command()
@click.option("--count", type=int, metavar="N", help="Stop after N outcomes.")
@click.option("--timeout", type=float, metavar="SECONDS", help="Stop after this long.")
@stack_options
def watch(
    count: int | None,
    timeout: float | None,
    stack: str | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
) -> int:
    """Print outcomes as they land (the stack's completion events), until Ctrl-C. With --json, each event
    as one JSON line."""
    with aws_errors():
        target = resolve(stack, region, profile)
        events, sqs = target.client("events"), target.client("sqs")
        bus = target.outputs.get("EventBusName", "default")
        name = f"cutout-watch-{secrets.token_hex(4)}"
        url = subscribe(events, sqs, name, bus)
        if not as_json:
            err.print(f"Watching the outcomes of stack {target.name} (Ctrl-C stops)...", markup=False)
        seen, deadline = 0, None if timeout is None else time.monotonic() + timeout
        try:
            while (count is None or seen < count) and (deadline is None or time.monotonic() < deadline):
                for event in read_events(sqs, url):
                    seen += 1
                    if as_json:
                        click.echo(json.dumps(event, ensure_ascii=False))
                    else:
                        out.print(event_line(event), markup=False)
        finally:
            unsubscribe(events, sqs, name, url, bus)
    return 0


@cli.command(name="ls")
@click.option("--failed", is_flag=True, help="Only the failure records, with their reasons.")
@click.option("--prefix", default="", help="Only uploads under this prefix (within the input prefix).")
@stack_options
def ls_(
    failed: bool, prefix: str, stack: str | None, region: str | None, profile: str | None, as_json: bool
) -> int:
    """List the outcomes: cutouts (and variants), and failure records with why."""
    with aws_errors():
        target = resolve(stack, region, profile)
        s3 = target.client("s3")
        rows: list[dict[str, Any]] = []
        if not failed:
            for item in _list(s3, target.output_bucket, f"{target.output_prefix}{prefix.lstrip('/')}"):
                rows.append(_output_row("cutout", item))
            for item in _list(s3, target.output_bucket, target.variant_prefix):
                # <variant prefix><variant>/<key without the input prefix>: the prefix applies after the name
                _, _, relative = item["Key"].removeprefix(target.variant_prefix).partition("/")
                if relative.startswith(prefix.lstrip("/")):
                    rows.append(_output_row("variant", item))
        failures = f"{target.failure_prefix}{target.upload_key(prefix)}"
        for item in _list(s3, target.output_bucket, failures):
            record = json.loads(s3.get_object(Bucket=target.output_bucket, Key=item["Key"])["Body"].read())
            rows.append(
                {
                    "kind": "failed",
                    "key": item["Key"],
                    "upload": record["source"]["key"],
                    "error": record.get("error"),
                    "reason": record.get("reason"),
                    "last_modified": iso(item["LastModified"]),
                }
            )
    if as_json:
        _print_json(rows)
        return 0
    table = Table(show_edge=False, pad_edge=False)
    for column in ("", "key", "size / why", "when"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row["kind"] == "failed":
            table.add_row("✗", row["upload"], f"{row['error']}: {row['reason']}", row["last_modified"])
        else:
            table.add_row(
                "✓" if row["kind"] == "cutout" else "·",
                row["key"],
                f"{row['bytes']:,} B",
                row["last_modified"],
            )
    out.print(table)
    kinds = [row["kind"] for row in rows]
    counts = [plural(kinds.count(kind), kind) for kind in ("cutout", "variant")]
    out.print(f"{', '.join(counts)}, {kinds.count('failed')} failed", markup=False)
    return 0


def _output_row(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": item["Key"],
        "bytes": item["Size"],
        "last_modified": iso(item["LastModified"]),
    }


def _list(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


@cli.command()
@click.argument("keys", nargs=-1)
@click.option(
    "--all", "all_into", type=click.Path(file_okay=False, path_type=Path), help="Every output, into DIR."
)
@click.option(
    "--out",
    "-d",
    "into",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to save the outputs of KEYs.",
)
@stack_options
def get(
    keys: tuple[str, ...],
    all_into: Path | None,
    into: Path,
    stack: str | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
) -> int:
    """Download the outputs of uploads KEY… (a cutout and its variants), or --all DIR."""
    if bool(keys) == bool(all_into):
        raise click.UsageError("give KEY…, or --all DIR")
    result: list[dict[str, Any]] = []
    status = 0
    with aws_errors():
        target = resolve(stack, region, profile)
        s3 = target.client("s3")
        if all_into is not None:
            outputs = [
                item["Key"]
                for scope in (target.output_prefix, target.variant_prefix)
                for item in _list(s3, target.output_bucket, scope)
            ]
            saved = _download(target, outputs, all_into)
            result = [{"key": k, "saved": str(p)} for k, p in zip(outputs, saved, strict=True)]
        for key in keys:
            upload = target.upload_key(key)
            outcomes = all_outcomes(s3, target, upload)
            if not outcomes:
                err.print(f"cutout: {upload}: no outcome yet (see `cutout status {key}`)", markup=False)
                status = max(status, NOT_FOUND)
                result.append({"key": upload, "outcome": None})
                continue
            outcome = max(outcomes, key=lambda o: (o.attempt, o.failure is None))
            if outcome.failure is not None:
                error, reason = outcome.failure
                err.print(f"cutout: {upload} failed: {error}: {reason}", markup=False)
                status = max(status, FAILED)
                result.append({"key": upload, "outcome": "failed", "error": error, "reason": reason})
                continue
            saved = _download(target, outcome.keys, into)
            result.append({"key": upload, "outcome": "cutout", "saved": [str(p) for p in saved]})
    if as_json:
        _print_json(result)
    else:
        for row in result:
            for path in row.get("saved", []) if keys else [row["saved"]]:
                out.print(f"  ↓ {path}", markup=False)
    return status


@cli.command()
@click.argument("key", required=False)
@click.option("--backfill", is_flag=True, help="The backfills instead: their progress and final counts.")
@stack_options
def status(
    key: str | None,
    backfill: bool,
    stack: str | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
) -> int:
    """Where upload KEY is: admitted, waiting for its slot (until when), submitted, polls, written or
    failed and why. With --backfill, the backfills."""
    if bool(key) == backfill:
        raise click.UsageError("give KEY, or --backfill")
    with aws_errors():
        target = resolve(stack, region, profile)
        if backfill:
            runs = backfills.recent(target)
            if as_json:
                _print_json(runs)
            else:
                for line in backfills.lines(runs):
                    out.print(line, markup=False)
            return 0
        assert key is not None
        found = upload_status(target, target.upload_key(key))
    if as_json:
        _print_json(found)
    else:
        for line in status_lines(found):
            out.print(line, markup=False)
    return 0


# --- retry, backfill, redrive --------------------------------------------------------------------------


@cli.command()
@click.argument("keys", nargs=-1)
@click.option("--failed", is_flag=True, help="Every upload that has a failure record.")
@click.option(
    "--since", metavar="WHEN", help="With --failed: records since WHEN (ISO time, or 30m, 2h, 1d ago)."
)
@click.option("--prefix", default="", help="With --failed: only uploads under this prefix.")
@click.option(
    "--version-id", metavar="ID", help="With one KEY: that version (default: the object as it is now)."
)
@click.option(
    "--attempt", type=click.IntRange(min=1), help="The attempt number (default: 1 + the current outcome's)."
)
@click.option("--wait", is_flag=True, help="Wait for the new outcomes.")
@click.option("--timeout", type=float, metavar="SECONDS", help="With --wait: give up after this long.")
@stack_options
def retry(
    keys: tuple[str, ...],
    failed: bool,
    since: str | None,
    prefix: str,
    version_id: str | None,
    attempt: int | None,
    wait: bool,
    timeout: float | None,
    stack: str | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
) -> int:
    """Process uploads KEY… again (or --failed ones) without uploading them again: once per request."""
    if failed == bool(keys):
        raise click.UsageError("give KEY…, or --failed")
    if since and not failed:
        raise click.UsageError("--since goes with --failed")
    if (version_id or attempt) and len(keys) != 1:
        raise click.UsageError("--version-id and --attempt go with exactly one KEY")
    after = _since(since) if since else None
    with aws_errors():
        target = resolve(stack, region, profile)
        s3, sqs = target.client("s3"), target.client("sqs")
        if failed:
            sources = list(failed_uploads(s3, target, target.upload_key(prefix), since=after))
        else:
            sources = [SourceObject(target.input_bucket, target.upload_key(k), version_id) for k in keys]
        awaited = []
        for source in sources:
            request = request_reprocess(sqs, s3, target.target(), source.key, source.version_id, attempt)
            awaited.append(Awaited(request.source, request.attempt))
        result: dict[str, Any] = {
            "requested": [{**a.source.to_dict(), "attempt": a.attempt} for a in awaited],
            "outcomes": [],
            "pending": [],
        }
        if not awaited:
            if as_json:
                _print_json(result)
            else:
                out.print("nothing to retry", markup=False)
            return 0
        if not as_json:
            for a in awaited:
                out.print(f"  ↻ {a.source.key} (attempt {a.attempt})", markup=False)
        if not wait:
            if as_json:
                _print_json(result)
            return 0
        return _follow(target, awaited, None, timeout, as_json, result)


def _since(text: str) -> datetime:
    relative = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if relative:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[relative.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: float(relative.group(1))})
    try:
        instant = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: an ISO time (2026-11-30T09:00Z) or a duration ago (30m, 2h, 1d)", param_hint="--since"
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@cli.command()
@click.option("--prefix", default="", help="Only objects under this prefix (within the input prefix).")
@click.option("--dry-run", is_flag=True, help="Count what it would send; start nothing.")
@stack_options
def backfill(
    prefix: str, dry_run: bool, stack: str | None, region: str | None, profile: str | None, as_json: bool
) -> int:
    """Process the objects already in the input bucket (those with an outcome of their own are skipped at
    admission). Runs inside AWS, in the stack's backfill state machine: the laptop may close."""
    with aws_errors():
        target = resolve(stack, region, profile)
        relative = target.upload_key(prefix).removeprefix(target.input_prefix)
        found = backfills.dry_run(target, relative) if dry_run else backfills.start(target, relative)
    if as_json:
        _print_json(found)
    else:
        for line in backfills.started_lines(found):
            out.print(line, markup=False)
    return 0


@cli.command()
@click.option("--limit", type=int, metavar="N", help="Move at most N messages.")
@stack_options
def redrive(
    limit: int | None, stack: str | None, region: str | None, profile: str | None, as_json: bool
) -> int:
    """Move the messages of the ingest dead-letter queue back to the ingest queue, once the cause is
    fixed."""
    with aws_errors():
        target = resolve(stack, region, profile)
        dlq, queue = target.output("IngestDeadLetterQueueUrl"), target.output("IngestQueueUrl")
        moved = queues.redrive(target.client("sqs"), dlq, queue, limit)
    if as_json:
        _print_json({"moved": moved, "from": dlq, "to": queue})
    else:
        out.print(f"moved {plural(moved, 'message')} from {dlq} to {queue}", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
