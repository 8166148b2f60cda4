"""The `cutout` command against the local stack, found as `make up` announces it: each command on uploads
made here (good, bad, with options), its --json parsed, and its exit statuses."""

import json
import threading
import time

import pytest
from PIL import Image

from cutout_cli.main import main
from cutout_cli.stacks import FAILED, LOCAL_STACK_FILE, NOT_FOUND, announce_local
from cutout_local.aws.lambda_runtime import ProcessRuntime
from tests.support.images import photo
from tests.support.pipeline import pipeline_stack

NOT_AN_IMAGE = b"plain text, named like a photo\n"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env, pipeline_stack() as pipeline:
        env.setattr(ProcessRuntime, "echo_logs", False)  # the functions' log lines, not the command's output
        env.setenv(LOCAL_STACK_FILE, str(tmp_path_factory.mktemp("cli") / "local-stack.json"))
        env.delenv("CUTOUT_STACK", raising=False)
        aws = pipeline.stack.aws
        announce_local(aws.endpoint_url, aws.stack_name, aws.region)
        yield pipeline


def cutout(capsys, *args: str) -> tuple[int, str, str]:
    """Run `cutout ARGS`; its exit status, stdout and stderr."""
    capsys.readouterr()
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def cutout_json(capsys, *args: str, expect: int = 0):
    status, out, err = cutout(capsys, *args, "--json")
    assert status == expect, err
    return json.loads(out)


@pytest.fixture(scope="module")
def album(pipeline, tmp_path_factory):
    """A folder pushed and waited for: two photos (one in a subfolder, one asking for WebP) and a text
    file named .jpg; the JSON of `cutout push --wait --download`."""
    folder = tmp_path_factory.mktemp("album")
    (folder / "beach.jpg").write_bytes(photo(64, 48))
    (folder / "trip").mkdir()
    (folder / "trip" / "hill.png").write_bytes(photo(48, 64, fmt="PNG"))
    (folder / "notes.jpg").write_bytes(NOT_AN_IMAGE)
    (folder / ".DS_Store").write_bytes(b"hidden")
    downloads = tmp_path_factory.mktemp("downloads")
    status = main(
        ["push", str(folder), "--prefix", "album", "--wait", "--download", str(downloads), "--json"]
    )
    return status, downloads


def test_push_waits_for_every_outcome_and_downloads_the_cutouts(pipeline, album, capsys):
    status, downloads = album
    assert status == FAILED  # one of them is not an image
    files = sorted(p.relative_to(downloads).as_posix() for p in downloads.rglob("*") if p.is_file())
    assert files == ["album/beach.png", "album/trip/hill.png"]
    with Image.open(downloads / "album" / "beach.png") as image:
        assert image.mode == "RGBA"
        assert image.size == (64, 48)


def test_push_json_has_each_upload_and_its_outcome(pipeline, capsys, tmp_path):
    (tmp_path / "a.jpg").write_bytes(photo(40, 30))
    (tmp_path / "b.jpg").write_bytes(NOT_AN_IMAGE)
    result = cutout_json(
        capsys, "push", str(tmp_path), "--prefix", "json", "--wait", "-o", "format=webp", expect=FAILED
    )
    assert [u["key"] for u in result["uploaded"]] == ["uploads/json/a.jpg", "uploads/json/b.jpg"]
    assert all(u["version_id"] for u in result["uploaded"])
    assert result["pending"] == []
    outcomes = {o["key"]: o for o in result["outcomes"]}
    assert outcomes["uploads/json/a.jpg"]["outcome"] == "cutout"
    assert outcomes["uploads/json/a.jpg"]["outputs"] == [f"s3://{pipeline.output_bucket}/cutouts/json/a.webp"]
    failed = outcomes["uploads/json/b.jpg"]
    assert failed["outcome"] == "failed"
    assert failed["error"] == "UnsupportedInputError"
    assert failed["failure_record"] == f"s3://{pipeline.output_bucket}/failures/uploads/json/b.jpg.json"
    assert failed["seconds"] >= 0


def test_push_without_wait_says_where_it_went(pipeline, capsys, tmp_path):
    (tmp_path / "quick.jpg").write_bytes(photo())
    status, out, _ = cutout(capsys, "push", str(tmp_path / "quick.jpg"), "--prefix", "quick/")
    assert status == 0
    assert f"s3://{pipeline.input_bucket}/uploads/quick/quick.jpg" in out


def test_a_bad_option_is_refused_before_anything_is_uploaded(pipeline, capsys, tmp_path):
    (tmp_path / "x.jpg").write_bytes(photo())
    status, _, err = cutout(
        capsys, "push", str(tmp_path / "x.jpg"), "--prefix", "bad-option", "-o", "format=gif"
    )
    assert status == 2
    assert 'option "format" = "gif"' in err
    assert "png, webp, jpg" in err
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.input_bucket, Prefix="uploads/bad-option")
    assert "Contents" not in listed


def test_ls_lists_cutouts_and_failures_with_why(pipeline, album, capsys):
    rows = cutout_json(capsys, "ls", "--prefix", "album/")
    cutouts = {r["key"] for r in rows if r["kind"] == "cutout"}
    assert cutouts == {"cutouts/album/beach.png", "cutouts/album/trip/hill.png"}
    [failed] = [r for r in rows if r["kind"] == "failed"]
    assert failed["upload"] == "uploads/album/notes.jpg"
    assert failed["error"] == "UnsupportedInputError"
    assert cutout_json(capsys, "ls", "--failed", "--prefix", "album/") == [failed]
    status, out, _ = cutout(capsys, "ls", "--failed", "--prefix", "album/")
    assert status == 0
    assert "notes.jpg" in out
    assert "UnsupportedInputError" in out


def test_get_saves_an_uploads_outputs_and_says_why_there_are_none(pipeline, album, capsys, tmp_path):
    result = cutout_json(capsys, "get", "album/beach.jpg", "--out", str(tmp_path))
    assert result == [
        {"key": "uploads/album/beach.jpg", "outcome": "cutout", "saved": [str(tmp_path / "album/beach.png")]}
    ]
    assert (tmp_path / "album" / "beach.png").stat().st_size > 0
    status, _, err = cutout(capsys, "get", "album/notes.jpg", "--out", str(tmp_path))
    assert status == FAILED
    assert "uploads/album/notes.jpg failed: UnsupportedInputError" in err
    status, _, err = cutout(capsys, "get", "album/never.jpg")
    assert status == NOT_FOUND
    assert "no outcome yet" in err


def test_get_all_saves_every_output(pipeline, album, capsys, tmp_path):
    result = cutout_json(capsys, "get", "--all", str(tmp_path))
    saved = {row["key"] for row in result}
    assert {"cutouts/album/beach.png", "cutouts/album/trip/hill.png"} <= saved
    assert (tmp_path / "album" / "trip" / "hill.png").is_file()


def test_status_of_a_written_upload_tells_its_way(pipeline, album, capsys):
    found = cutout_json(capsys, "status", "album/beach.jpg")
    assert found["stage"] == "written", found
    assert found["execution"]["status"] == "SUCCEEDED"
    assert found["attempt"] == 0
    assert found["task_id"]
    assert found["polls"] >= 1
    assert found["admitted_at"] <= found["submitted_at"], found  # ISO 8601 in UTC: ordered as text
    assert found["slot_at"] <= found["submitted_at"], found
    assert found["outcome"]["keys"] == ["cutouts/album/beach.png"]
    assert found["outcome"]["of_this_upload"] is True
    status, out, _ = cutout(capsys, "status", "uploads/album/beach.jpg")
    assert status == 0
    assert "written" in out
    assert "✓ cutouts/album/beach.png" in out


def test_status_of_an_upload_refused_at_admission_says_why(pipeline, album, capsys):
    found = cutout_json(capsys, "status", "album/notes.jpg")
    assert found["stage"] == "failed"
    assert found["execution"] is None  # refused before an execution started
    assert found["outcome"]["error"] == "UnsupportedInputError"
    status, _, err = cutout(capsys, "status", "album/nothing-here.jpg")
    assert status == NOT_FOUND
    assert "no upload" in err


def test_retry_processes_a_failed_upload_again_without_uploading_it(pipeline, capsys):
    pipeline.stack.provider.faults.update(task_fail_next=1, task_fail_reason="engine hiccup")
    failed = pipeline.run("uploads/retry/hiccup.jpg", photo())
    assert failed.failure["error"] == "ProviderTaskFailedError"
    result = cutout_json(capsys, "retry", "--failed", "--prefix", "retry/", "--since", "1h", "--wait")
    [requested] = result["requested"]
    assert requested["key"] == "uploads/retry/hiccup.jpg"
    assert requested["version_id"] == failed.failure["source"]["version_id"]
    assert requested["attempt"] == 1
    [outcome] = result["outcomes"]
    assert outcome["outcome"] == "cutout"
    assert outcome["attempt"] == 1
    assert cutout_json(capsys, "retry", "--failed", "--prefix", "retry/")["requested"] == []
    assert cutout_json(capsys, "ls", "--failed", "--prefix", "retry/") == []


def test_retry_since_leaves_older_failure_records(pipeline, album, capsys):
    assert cutout_json(capsys, "retry", "--failed", "--prefix", "album/", "--since", "2099-01-01T00:00Z") == {
        "requested": [],
        "outcomes": [],
        "pending": [],
    }
    status, _, err = cutout(capsys, "retry", "--failed", "--since", "yesterday")
    assert status == 2
    assert "30m, 2h, 1d" in err


def test_retry_of_a_key_waits_for_the_new_attempt(pipeline, album, capsys):
    result = cutout_json(capsys, "retry", "album/beach.jpg", "--wait", "--timeout", "60")
    [requested] = result["requested"]
    assert requested["attempt"] == 1
    [outcome] = result["outcomes"]
    assert outcome["outcome"] == "cutout"
    assert outcome["attempt"] == 1
    assert cutout_json(capsys, "status", "album/beach.jpg")["attempt"] == 1


def test_watch_prints_outcomes_as_they_land(pipeline, capsys):
    results: list[int] = []
    watcher = threading.Thread(
        target=lambda: results.append(main(["watch", "--count", "1", "--timeout", "60", "--json"]))
    )
    capsys.readouterr()
    watcher.start()
    time.sleep(1.0)  # subscribed
    pipeline.s3.put_object(Bucket=pipeline.input_bucket, Key="uploads/watched/w.jpg", Body=photo())
    watcher.join(90)
    assert results == [0]
    [line] = capsys.readouterr().out.splitlines()
    event = json.loads(line)
    assert event["detail-type"] == "Cutout Created"
    assert event["detail"]["source"]["key"] == "uploads/watched/w.jpg"
    rules = pipeline.stack.client("events").list_rules(NamePrefix="cutout-watch-")["Rules"]
    assert rules == []  # its subscription is gone with it


def test_redrive_moves_the_dead_letters_back(pipeline, capsys):
    sqs = pipeline.stack.client("sqs")
    dlq = pipeline.stack.outputs["IngestDeadLetterQueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"Event": "s3:TestEvent", "Bucket": "x"}))
    result = cutout_json(capsys, "redrive")
    assert result["moved"] == 1
    assert result["to"] == pipeline.stack.outputs["IngestQueueUrl"]
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0)


def test_without_a_local_stack_each_command_says_so_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(LOCAL_STACK_FILE, str(tmp_path / "none.json"))
    monkeypatch.delenv("CUTOUT_STACK", raising=False)
    for command in (["ls"], ["status", "a.jpg"], ["watch"], ["redrive"], ["backfill", "--dry-run"]):
        status, out, err = cutout(capsys, *command)
        assert status == NOT_FOUND
        assert out == ""
        assert err.count("\n") == 1
        assert "nothing is running locally" in err
        assert "make up" in err


def test_backfill_processes_objects_that_were_there_before_and_status_reports_it(pipeline, capsys):
    old = [f"uploads/before/{i}.jpg" for i in range(8)]
    pipeline.stack.preload([(key, photo(24, 18)) for key in old] + [("uploads/before/odd.txt", b"text")])
    dry = cutout_json(capsys, "backfill", "--prefix", "before/", "--dry-run")
    assert (dry["started"], dry["objects"], dry["accepted_suffix"]) == (False, 9, 8)
    assert dry["prefix"] == "uploads/before/"
    assert cutout_json(capsys, "ls", "--prefix", "before/") == []  # a dry run starts nothing

    started = cutout_json(capsys, "backfill", "--prefix", "before/")
    assert started["started"] is True
    deadline = time.monotonic() + 120
    while (runs := cutout_json(capsys, "status", "--backfill"))[0]["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    [run] = [r for r in runs if r["execution"] == started["execution"]]
    assert run["status"] == "SUCCEEDED"
    assert run["prefix"] == "before/"
    items = run["items"]
    assert (items["total"], items["succeeded"], items["failed"], items["pending"]) == (9, 9, 0, 0)
    while len(rows := cutout_json(capsys, "ls", "--prefix", "before/")) < 9:
        assert time.monotonic() < deadline, rows
        time.sleep(0.5)
    assert sorted(r["key"] for r in rows if r["kind"] == "cutout") == [
        f"cutouts/before/{i}.png" for i in range(8)
    ]
    [odd] = [r for r in rows if r["kind"] == "failed"]
    assert odd["upload"] == "uploads/before/odd.txt"
    [run] = [r for r in cutout_json(capsys, "status", "--backfill") if r["execution"] == started["execution"]]
    assert run["outcomes"] == {"objects": 9, "cutouts": 8, "failed": 1, "without_outcome": 0}
    status, out, _ = cutout(capsys, "status", "--backfill")
    assert status == 0
    assert "9 objects listed: 9 sent to admission, 0 failed, 0 to go" in out
    assert "now: 8 cutouts, 1 failed" in out


def test_variants_are_pushed_listed_and_got_under_their_own_names(pipeline, capsys, tmp_path):
    (tmp_path / "shoe.jpg").write_bytes(photo(64, 48))
    options = ["-o", "variants=full,thumb", "-o", "thumb.format=webp", "-o", "thumb.max-size=32"]
    downloads = tmp_path / "downloads"
    result = cutout_json(
        capsys, "push", str(tmp_path / "shoe.jpg"), "--prefix", "v", *options, "--download", str(downloads)
    )
    [outcome] = result["outcomes"]
    bucket = pipeline.output_bucket
    assert outcome["outputs"] == [
        f"s3://{bucket}/cutouts/v/shoe.png",
        f"s3://{bucket}/variants/thumb/v/shoe.webp",
    ]
    assert (downloads / "v" / "shoe.png").is_file()
    with Image.open(downloads / "variants" / "thumb" / "v" / "shoe.webp") as thumb:
        assert max(thumb.size) == 32
    rows = cutout_json(capsys, "ls", "--prefix", "v/")
    assert [(r["kind"], r["key"]) for r in rows] == [
        ("cutout", "cutouts/v/shoe.png"),
        ("variant", "variants/thumb/v/shoe.webp"),
    ]
    [got] = cutout_json(capsys, "get", "v/shoe.jpg", "-d", str(tmp_path / "got"))
    assert got["saved"] == [
        str(tmp_path / "got" / "v" / "shoe.png"),
        str(tmp_path / "got" / "variants/thumb/v/shoe.webp"),
    ]
