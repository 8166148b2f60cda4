"""WriteResult's core: fetch the finished task's result URL, check the download, stream it into the output
bucket (or leave a newer upload's cutout alone), with the errors a failure record will show."""

import hashlib
import io
import json
from dataclasses import replace
from unittest import mock
from urllib.parse import quote, unquote

import pytest
import urllib3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError
from PIL import Image, ImageCms

from cutout.errors import ProviderOutageError, ResultDownloadError, ResultRejectedError
from cutout.failures import write_failure_record
from cutout.novita import RESULT_PATH, NovitaClient
from cutout.observability import metrics
from cutout.options import Options, Variant
from cutout.outcomes import cutout_outcome
from cutout.results import (
    DOWNLOAD_TIMEOUT,
    TRANSFER,
    USER_METADATA_LIMIT,
    ProviderParts,
    metadata_size,
    write_cutout,
)
from cutout.state import OutputWritten, SourceObject, Written
from tests.support.events import load_event
from tests.support.fake_http import FakePoolManager, FakeResponse
from tests.support.fakes import Clock, FakeS3, FakeTable, client_error, provider_health
from tests.support.images import encode, photo

TASK_ID = "8f0b7c0e-5b1a-4e0f-9a57-2f3e8d1c6b4a"
SOURCE = SourceObject.from_dict(
    load_event("write_result.json")["source"]
)  # "uploads/my holiday photo(1).jpg"
OUTPUT_KEY = "cutouts/my holiday photo(1).png"
CUTOUT = encode(Image.new("RGBA", (64, 48), (255, 0, 0, 0)), "PNG")
SUCCEED = load_event("provider/task_result_succeed.json")
RESULT_URL = SUCCEED["images"][0]["image_url"]
OLDER, NEWER = "0055AED6DCD90281E5", "0055AED6DCD90281E6"
OLDER_UPLOAD = replace(SOURCE, version_id="v-old", etag="e-old", sequencer=OLDER)  # of the same key


def task_result(body: dict = SUCCEED) -> FakeResponse:
    return FakeResponse(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def download(
    body: bytes = CUTOUT, status: int = 200, *, fail_after=None, error=None, **headers: str
) -> FakeResponse:
    """The result download; headers as keywords (``Content_Length="12"``), Content-Type image/png unless
    given."""
    headers.setdefault("Content_Type", "image/png")
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    return FakeResponse(status, body, headers, fail_after=fail_after, error=error)


def write(
    settings,
    *answers,
    s3=None,
    source: SourceObject = SOURCE,
    health: ProviderParts | None = None,
    attempt: int = 0,
    variants: tuple[Variant, ...] = (),
) -> tuple[Written, FakeS3, FakePoolManager]:
    """write_cutout with a real NovitaClient whose pool answers ``answers`` (task result, then download),
    for the output ``variants`` an upload asked for (none: the default cutout, streamed)."""
    s3 = s3 or FakeS3()
    http = FakePoolManager(*answers)
    novita = NovitaClient(settings.provider_base_url, lambda: "sk-test-key", http)  # type: ignore[arg-type]
    written = write_cutout(
        novita=novita,  # type: ignore[arg-type]
        s3=s3,
        http=http,  # type: ignore[arg-type]
        settings=settings,
        source=source,
        task_id=TASK_ID,
        health=health or healthy(settings),
        attempt=attempt,
        variants=variants,
    )
    return written, s3, http


def healthy(settings, table: FakeTable | None = None, clock: Clock | None = None) -> ProviderParts:
    table = table if table is not None else FakeTable()
    return ProviderParts(
        task_results=provider_health("task-result", settings, table, clock),
        downloads=provider_health("download", settings, table, clock),
        spread=lambda low, high: 0.0,
    )


def refused(settings, *answers, error=ResultRejectedError) -> str:
    """The message of the error write_cutout raises, once it is checked that nothing was written."""
    s3 = FakeS3()
    with pytest.raises(error) as raised:
        write(settings, *answers, s3=s3)
    assert s3.objects == {}
    return str(raised.value)


def with_existing_cutout(settings, sequencer: str | None) -> FakeS3:
    s3 = FakeS3()
    metadata = {"source-sequencer": sequencer} if sequencer else {}
    s3.put_object(Bucket=settings.output_bucket, Key=OUTPUT_KEY, Body=b"earlier cutout", Metadata=metadata)
    return s3


# --- what is written ---------------------------------------------------------------------------------


def test_the_cutout_is_streamed_to_the_output_key_and_its_size_returned(settings):
    written, s3, _ = write(settings, task_result(), download())

    output = OutputWritten(settings.output_bucket, OUTPUT_KEY, bytes=len(CUTOUT), format="png")
    assert written == Written(
        bucket=settings.output_bucket, key=OUTPUT_KEY, bytes=len(CUTOUT), outputs=(output,)
    )
    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["Body"] == CUTOUT


def test_the_cutout_names_its_source_in_ascii_metadata(settings):
    _, s3, _ = write(settings, task_result(), download())

    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["Metadata"] == {
        "source-bucket": "cutout-input-123456789012-3f2a9c1e",
        "source-key": "uploads/my%20holiday%20photo%281%29.jpg",
        "source-version": "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "source-etag": "9b2cf535f27731c974343645a3985328",
        "task-id": TASK_ID,
        "attempt": "0",
    }


def test_an_unversioned_upload_overwritten_after_its_submission_is_not_written(settings, added_metrics):
    """The provider may have read the newer bytes: they must not become this upload's cutout."""
    s3 = FakeS3()
    s3.put_object(Bucket="in", Key="uploads/a.jpg", Body=b"the newer upload")
    source = SourceObject(bucket="in", key="uploads/a.jpg", etag="0123456789abcdef0123456789abcdef")
    written, s3, http = write(settings, task_result(), download(), source=source, s3=s3)
    assert written == Written(settings.output_bucket, "cutouts/a.png", bytes=0)
    assert http.requests == []
    assert (settings.output_bucket, "cutouts/a.png") not in s3.objects
    added_metrics.assert_any_call(name="CutoutsSuperseded", unit=MetricUnit.Count, value=1)


def test_an_unversioned_upload_deleted_after_its_submission_still_gets_its_cutout(settings):
    source = SourceObject(bucket="in", key="uploads/a.jpg", etag="0123456789abcdef0123456789abcdef")
    written, _, _ = write(settings, task_result(), download(), source=source)
    assert written.bytes == len(CUTOUT)


@pytest.mark.parametrize("characters", [100, 300, 1000])
def test_a_key_too_long_for_s3s_metadata_limit_is_named_by_its_digest(settings, characters):
    """250 CJK characters percent-encode to 2,250 bytes: S3 would refuse the cutout (2 KB of user
    metadata at most) after the provider had processed, and billed, the image."""
    source = SourceObject(
        bucket="in", key="uploads/" + "写" * characters + ".jpg", etag="9b2c", sequencer=OLDER
    )
    written, s3, _ = write(settings, task_result(), download(), source=source)

    metadata = s3.objects[(settings.output_bucket, written.key)]["Metadata"]
    assert metadata_size(metadata) <= USER_METADATA_LIMIT
    if len(quote(source.key, safe="/")) < 1900:
        assert unquote(metadata["source-key"]) == source.key
    else:
        assert "source-key" not in metadata
        assert metadata["source-key-sha256"] == hashlib.sha256(source.key.encode()).hexdigest()
    assert cutout_outcome(s3, settings, source.key).is_of(source)  # still recognised as this upload's


def test_the_source_sequencer_is_recorded_when_known(settings):
    source = SourceObject(
        bucket="in", key="uploads/a.jpg", etag="9b2cf535f27731c974343645a3985328", sequencer=OLDER
    )
    _, s3, _ = write(settings, task_result(), download(), source=source)

    metadata = s3.objects[(settings.output_bucket, "cutouts/a.png")]["Metadata"]
    assert metadata["source-sequencer"] == OLDER
    assert metadata["source-version"] == "9b2cf535f27731c974343645a3985328"  # the ETag without a version id


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(CUTOUT, "image/png"), (photo(fmt="JPEG"), "image/jpeg"), (photo(fmt="WEBP"), "image/webp")],
)
def test_the_content_type_is_the_format_of_the_bytes(settings, data, content_type):
    _, s3, _ = write(settings, task_result(), download(data, Content_Type="application/octet-stream"))

    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["ContentType"] == content_type


def test_the_written_cutout_is_counted_with_its_bytes(settings):
    with mock.patch.object(metrics, "add_metric") as add_metric:
        write(settings, task_result(), download())

    assert add_metric.call_args_list == [
        mock.call(name="CutoutsWritten", unit=MetricUnit.Count, value=1),
        mock.call(name="CutoutBytes", unit=MetricUnit.Bytes, value=len(CUTOUT)),
    ]


# --- the requests --------------------------------------------------------------------------------------


def test_the_result_url_is_asked_for_afresh_then_streamed_without_retries(settings):
    _, _, http = write(settings, task_result(), download())

    asked, downloaded = http.requests
    assert (asked["method"], asked["url"], asked["fields"]) == (
        "GET",
        settings.provider_base_url + RESULT_PATH,
        {"task_id": TASK_ID},
    )
    assert downloaded == {
        "method": "GET",
        "url": RESULT_URL,
        "preload_content": False,
        "timeout": DOWNLOAD_TIMEOUT,
        "retries": False,
    }


class RecordingS3(FakeS3):
    def upload_fileobj(self, stream, bucket, key, ExtraArgs=None, Config=None):
        self.config = Config
        super().upload_fileobj(stream, bucket, key, ExtraArgs=ExtraArgs, Config=Config)


def test_a_cutout_of_up_to_one_part_is_one_conditional_put(settings):
    """Up to TRANSFER's multipart threshold (8 MiB) in memory, put at once, conditional on what is there."""
    written, s3, _ = write(settings, task_result(), download(), s3=RecordingS3())
    assert not hasattr(s3, "config")  # no managed upload
    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["Body"] == CUTOUT
    assert written.bytes == len(CUTOUT)


def test_a_larger_cutout_goes_up_in_parts_bounded_in_memory(settings):
    big = CUTOUT + b"\0" * TRANSFER.multipart_threshold  # a PNG then padding: 8 MiB and more
    written, s3, _ = write(settings, task_result(), download(big), s3=RecordingS3())

    config = s3.config  # type: ignore[attr-defined]
    assert config is TRANSFER
    in_memory = config.multipart_chunksize * (config.max_concurrency + config.max_in_memory_upload_chunks)
    assert in_memory + TRANSFER.multipart_threshold <= 40 * 1024**2
    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["Body"] == big
    assert written.bytes == len(big)


@pytest.mark.parametrize("fails", ["upload", "download"])
def test_the_connection_is_released_after_the_stream(settings, fails):
    response = download()
    if fails == "download":
        response = download(fail_after=100, error=urllib3.exceptions.ProtocolError("Connection broken"))
    s3 = FakeS3()
    if fails == "upload":
        s3.put_object = mock.Mock(side_effect=client_error("SlowDown", "PutObject"))  # type: ignore[method-assign]

    with pytest.raises((ClientError, ResultDownloadError)):
        write(settings, task_result(), response, s3=s3)

    assert response.released


def test_the_connection_is_released_after_a_successful_stream(settings):
    response = download()
    write(settings, task_result(), response)
    assert response.released


# --- newer uploads win -----------------------------------------------------------------------------------


def test_a_newer_uploads_cutout_is_left_alone(settings):
    s3 = with_existing_cutout(settings, NEWER)
    source = SourceObject(SOURCE.bucket, SOURCE.key, SOURCE.version_id, sequencer=OLDER)

    with mock.patch.object(metrics, "add_metric") as add_metric:
        written, _, http = write(settings, s3=s3, source=source)

    assert written == Written(bucket=settings.output_bucket, key=OUTPUT_KEY, bytes=0)
    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["Body"] == b"earlier cutout"
    assert http.requests == []  # the provider is not even asked
    assert add_metric.call_args_list == [mock.call(name="CutoutsSuperseded", unit=MetricUnit.Count, value=1)]


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [(OLDER, NEWER), (NEWER, NEWER), (None, OLDER), (NEWER, None)],
    ids=["older", "same upload again", "theirs unknown", "ours unknown"],
)
def test_a_cutout_not_known_to_be_newer_is_overwritten(settings, theirs, ours):
    s3 = with_existing_cutout(settings, theirs)
    source = SourceObject(SOURCE.bucket, SOURCE.key, SOURCE.version_id, sequencer=ours)

    written, _, _ = write(settings, task_result(), download(), s3=s3, source=source)

    assert written.bytes == len(CUTOUT)
    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["Body"] == CUTOUT


class Looking(FakeS3):
    """FakeS3 that records its listings and HEADs; ``head_error``: every HEAD fails with that code;
    ``truncated``: every listing says more keys follow."""

    def __init__(self, head_error: str | None = None, truncated: bool = False) -> None:
        super().__init__()
        self.head_error = head_error
        self.truncated = truncated
        self.listed: list[str] = []
        self.heads: list[str] = []

    def list_objects_v2(self, **kwargs):
        self.listed.append(kwargs["Prefix"])
        return {**super().list_objects_v2(**kwargs), **({"IsTruncated": True} if self.truncated else {})}

    def head_object(self, **kwargs):
        self.heads.append(kwargs["Key"])
        if self.head_error:
            raise client_error(self.head_error, "HeadObject")
        return super().head_object(**kwargs)


STEM = OUTPUT_KEY.removesuffix("png")  # "cutouts/my holiday photo(1)."
EVERY_FORMAT = [f"{STEM}png", f"{STEM}webp", f"{STEM}jpg"]


def looking(settings, **kwargs) -> Looking:
    s3 = Looking(**kwargs)
    s3.objects.update(with_existing_cutout(settings, OLDER).objects)
    return s3


def test_a_free_key_is_looked_up_with_one_listing_before_and_one_after(settings):
    s3 = Looking()
    written, _, _ = write(settings, task_result(), download(), s3=s3)

    # before it decides to write: the names a cutout of the key may have, in every format, listed (none:
    # IfNoneMatch); after: listed again for a cutout in another format to replace; its own is not read back
    assert s3.listed == [STEM, STEM]
    assert s3.heads == []
    assert written.bytes == len(CUTOUT)


def test_a_listed_cutout_is_read_once_and_the_write_is_conditional_on_it(settings):
    s3 = looking(settings)
    written, _, _ = write(settings, task_result(), download(), s3=s3)

    assert s3.listed == [STEM, STEM]
    assert s3.heads == [OUTPUT_KEY]  # whose it is, before; the cutout written over it is not read back
    assert written.bytes == len(CUTOUT)


def test_a_cutout_replaced_since_it_was_read_is_read_again(settings):
    s3 = looking(settings)
    real_put = s3.put_object

    def replaced_first(**kwargs):
        s3.put_object = real_put  # another writer's cutout of the same upload lands just before ours
        real_put(Bucket=settings.output_bucket, Key=OUTPUT_KEY, Body=b"theirs", Metadata={})
        return real_put(**kwargs)

    s3.put_object = replaced_first
    written, _, _ = write(settings, task_result(), download(), s3=s3)

    assert s3.heads == [OUTPUT_KEY, OUTPUT_KEY]  # the write lost the race (412): read again, then written
    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["Body"] == CUTOUT
    assert written.bytes == len(CUTOUT)


def test_every_format_is_read_when_one_listing_cannot_tell(settings):
    s3 = Looking(truncated=True)  # more keys share the name than a page holds
    written, _, _ = write(settings, task_result(), download(), s3=s3)

    assert s3.heads == [*EVERY_FORMAT, *EVERY_FORMAT]
    assert written.bytes == len(CUTOUT)


def test_a_listed_key_gone_by_its_head_is_absent_also_when_named_no_such_key(settings):
    s3 = looking(settings)

    def deleted_since_listed(**kwargs):
        s3.objects.pop((kwargs["Bucket"], kwargs["Key"]))
        raise client_error("NoSuchKey", "HeadObject")  # some S3-compatible stores name a missing key so

    s3.head_object = deleted_since_listed
    written, _, _ = write(settings, task_result(), download(), s3=s3)
    assert written.bytes == len(CUTOUT)


def test_an_s3_error_looking_for_the_existing_cutout_is_not_taken_for_absence(settings):
    with pytest.raises(ClientError) as raised:
        write(settings, s3=looking(settings, head_error="403"))
    assert raised.value.response["Error"]["Code"] == "403"


# --- refused results ------------------------------------------------------------------------------------


def test_a_failed_task_has_no_cutout(settings):
    message = refused(settings, task_result(load_event("provider/task_result_failed.json")))
    assert message == f"task {TASK_ID} is FAILED with 0 images, no cutout"


def test_a_succeeded_task_without_images_has_no_cutout(settings):
    message = refused(settings, task_result({**SUCCEED, "images": []}))
    assert message == f"task {TASK_ID} is SUCCEED with 0 images, no cutout"


def test_a_result_url_off_the_allow_list_is_not_downloaded(settings):
    body = {**SUCCEED, "images": [{**SUCCEED["images"][0], "image_url": "https://evil.example.com/0.png"}]}
    message = refused(settings, task_result(body))  # no download scripted: none may be made
    assert message == "result host 'evil.example.com' is not in RESULT_URL_ALLOWED_HOSTS"


@pytest.mark.parametrize(
    ("length", "written"), [("104857600", True), ("104857601", False), ("chunked", True)]
)
def test_a_declared_length_over_the_cap_is_refused_before_reading(settings, length, written):
    response = download(Content_Length=length)
    if written:
        assert write(settings, task_result(), response)[0].bytes == len(CUTOUT)
    else:
        message = refused(settings, task_result(), response)
        assert message == "result is 104857601 bytes, over MAX_RESULT_BYTES (104857600)"
        assert response._stream.tell() == 0


def test_a_body_longer_than_the_cap_is_refused_while_streaming(settings):
    settings = replace(settings, max_result_bytes=len(CUTOUT) - 1)
    message = refused(settings, task_result(), download())  # no Content-Length to go by
    assert message == f"result is larger than MAX_RESULT_BYTES ({len(CUTOUT) - 1})"


def test_a_body_of_exactly_the_cap_is_written(settings):
    settings = replace(settings, max_result_bytes=len(CUTOUT))
    assert write(settings, task_result(), download())[0].bytes == len(CUTOUT)


@pytest.mark.parametrize(
    "content_type", ["image/png", "IMAGE/PNG ; q=1", "application/octet-stream", "binary/octet-stream", ""]
)
def test_image_and_generic_content_types_are_accepted(settings, content_type):
    assert write(settings, task_result(), download(Content_Type=content_type))[0].bytes == len(CUTOUT)


def test_a_missing_content_type_is_accepted(settings):
    response = FakeResponse(200, CUTOUT)
    assert write(settings, task_result(), response)[0].bytes == len(CUTOUT)


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/html; charset=utf-8", "text/html"),
        ("application/xml", "application/xml"),
        ("https://cdn.example.com/t?X-Amz-Signature=0f1e", "https://cdn.example.com/t?…"),
    ],
)
def test_a_declared_non_image_is_refused_and_named_without_signatures(settings, content_type, shown):
    message = refused(settings, task_result(), download(Content_Type=content_type))
    assert message == f"result is {shown!r}, not an image"


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>AccessDenied</body></html>",
        photo(fmt="GIF"),
        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        b"",
    ],
    ids=["html", "gif", "svg", "empty"],
)
def test_a_body_that_is_not_png_jpeg_or_webp_is_refused(settings, body):
    message = refused(settings, task_result(), download(body))
    assert message == "result body is not a PNG, JPEG or WebP image"


@pytest.mark.parametrize("status", [403, 404, 204])
def test_an_http_error_answer_is_a_download_error(settings, status):
    body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    response = download(body, status, Content_Type="application/xml")
    message = refused(settings, task_result(), response, error=ResultDownloadError)
    assert message == f"result URL answered HTTP {status} (expired or unavailable)"
    assert response.released


UNAVAILABLE_HOST = {
    "HTTP 503": (
        download(b"<html>busy</html>", 503, Content_Type="text/html"),
        "result URL answered HTTP 503",
    ),
    "no connection": (
        urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection"),  # type: ignore[arg-type]
        "result download failed: NewConnectionError",
    ),
    "timeout": (
        urllib3.exceptions.ReadTimeoutError(None, RESULT_URL, "Read timed out."),  # type: ignore[arg-type]
        "result download failed: ReadTimeoutError",
    ),
}


@pytest.mark.parametrize(("answer", "reason"), UNAVAILABLE_HOST.values(), ids=UNAVAILABLE_HOST.keys())
def test_an_unavailable_result_host_pauses_the_write_instead_of_failing_it(settings, answer, reason):
    table, clock = FakeTable(), Clock()
    written, s3, _ = write(settings, task_result(), answer, health=healthy(settings, table, clock))
    assert written == Written(settings.output_bucket, OUTPUT_KEY, bytes=0, wait_seconds=1)  # the first probe
    assert s3.objects == {}
    outage = provider_health("download", settings, table, clock).outage()
    assert outage is not None
    assert outage.reason == reason
    assert provider_health("task-result", settings, table, clock).outage() is None


def test_while_the_result_host_is_down_only_the_due_probe_downloads(settings):
    table, clock = FakeTable(), Clock()
    health = healthy(settings, table, clock)
    write(settings, task_result(), download(b"", 502), health=health)
    clock.advance(0.5)
    written, _, http = write(settings, task_result(), health=health)  # a fresh URL, but no download
    assert written.wait_seconds == 1
    assert [RESULT_PATH in request["url"] for request in http.requests] == [True]
    clock.advance(0.5)
    written, s3, _ = write(settings, task_result(), download(), health=health)  # the probe: it works
    assert written.bytes == len(CUTOUT)
    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["Body"] == CUTOUT
    assert provider_health("download", settings, table, clock).outage() is None


def test_an_unavailable_task_result_pauses_the_write_before_any_download(settings):
    table, clock = FakeTable(), Clock()
    busy = FakeResponse(503, b'{"code": 503, "reason": "SERVICE_UNAVAILABLE"}')
    written, s3, http = write(settings, busy, health=healthy(settings, table, clock))
    assert (written.wait_seconds, written.bytes, s3.objects, len(http.requests)) == (1, 0, {}, 1)
    assert provider_health("task-result", settings, table, clock).outage() is not None


def test_past_max_provider_outage_the_write_fails_saying_how_long(settings):
    table, clock = FakeTable(), Clock()
    health = healthy(settings, table, clock)
    write(settings, task_result(), download(b"", 503), health=health)
    clock.advance(settings.max_provider_outage_seconds + 1)
    claim = provider_health("download", settings, table, clock)
    claim.ask()  # another caller holds the due probe
    with pytest.raises(ProviderOutageError) as gave_up:
        write(settings, task_result(), health=health)
    assert str(gave_up.value) == (
        f"the provider (the host of its result URLs) has been unavailable for "
        f"{settings.max_provider_outage_seconds + 1} s, more than MaxProviderOutageSeconds "
        f"({settings.max_provider_outage_seconds}); last error: result URL answered HTTP 503"
    )


@pytest.mark.parametrize("fail_after", [0, 1000], ids=["while sniffing", "while streaming"])
def test_a_download_that_breaks_off_is_a_download_error(settings, fail_after):
    big = photo(320, 240, fmt="PNG")
    response = download(
        big, fail_after=fail_after, error=urllib3.exceptions.ProtocolError("Connection broken")
    )
    message = refused(settings, task_result(), response, error=ResultDownloadError)
    assert message == "result download broke off: ProtocolError"


class RecordingResponse(FakeResponse):
    """Remembers how much each read asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[int | None] = []

    def read(self, amt: int | None = None) -> bytes:
        self.asked.append(amt)
        return super().read(amt)


def test_the_download_is_read_in_pieces_never_whole(settings):
    response = RecordingResponse(200, CUTOUT, {"Content-Type": "image/png"})
    write(settings, task_result(), response)

    assert response.asked[0] == 32  # just enough to tell the format
    assert all(amt is not None and 0 < amt <= TRANSFER.multipart_chunksize for amt in response.asked)


def test_an_s3_error_without_a_code_is_raised_as_it_came(settings):
    class ListFailsWithoutCode(FakeS3):
        def list_objects_v2(self, **_):
            raise ClientError({"ResponseMetadata": {"HTTPStatusCode": 500}}, "ListObjectsV2")

    with pytest.raises(ClientError, match="ListObjectsV2"):
        write(settings, s3=ListFailsWithoutCode())


# --- reprocess requests: the attempt, and the failure record the cutout replaces ----------------------
def test_the_cutout_records_its_attempt(settings):
    _, s3, _ = write(settings, task_result(), download(), attempt=3)
    assert s3.objects[(settings.output_bucket, OUTPUT_KEY)]["Metadata"]["attempt"] == "3"


def test_the_cutout_of_a_reprocessed_upload_replaces_its_failure_record(settings):
    s3 = FakeS3()
    write_failure_record(s3, settings, SOURCE, error="ProviderTaskFailedError", reason="no subject")
    write(settings, task_result(), download(), s3=s3, attempt=1)
    assert list(s3.objects) == [(settings.output_bucket, OUTPUT_KEY)]


# --- with output options: rendered, one output per variant ---------------------------------------------
def cutout_with_subject() -> bytes:
    """A 64x48 cutout whose subject (opaque) is the box (16, 12)-(48, 36), the rest transparent."""
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (32, 24), (200, 30, 30, 255)), (16, 12))
    return encode(image, "PNG")


def variants(*texts: str, names: tuple[str | None, ...] = (None,)) -> tuple[Variant, ...]:
    return tuple(Variant(name, Options.from_text(text)) for name, text in zip(names, texts, strict=True))


def write_variants(settings, chosen, *, s3=None, source: SourceObject = SOURCE):
    """:func:`write` of a cutout with a subject, rendered as the ``chosen`` variants."""
    written, s3, _ = write(
        settings, task_result(), download(cutout_with_subject()), s3=s3, source=source, variants=chosen
    )
    return written, s3


def stored_image(s3: FakeS3, settings, key: str) -> Image.Image:
    return Image.open(io.BytesIO(s3.objects[(settings.output_bucket, key)]["Body"]))


def test_one_variant_with_options_is_rendered_to_the_cutout_key_with_its_formats_extension(settings):
    written, s3 = write_variants(settings, variants("format=webp crop=subject background=#00ff00"))
    key = "cutouts/my holiday photo(1).webp"
    image = stored_image(s3, settings, key)
    assert (image.format, image.size) == ("WEBP", (32, 24))
    assert image.convert("RGB").getpixel((0, 0)) == (200, 30, 30)
    assert s3.objects[(settings.output_bucket, key)]["ContentType"] == "image/webp"
    assert written == Written(
        settings.output_bucket,
        key,
        bytes=len(s3.objects[(settings.output_bucket, key)]["Body"]),
        outputs=(OutputWritten(settings.output_bucket, key, written.bytes, "webp", None),),
    )


def test_named_variants_go_the_first_to_the_cutout_key_the_others_under_the_variant_prefix(settings):
    chosen = variants("format=png", "format=jpg max_size=32", names=("full", "thumb"))
    written, s3 = write_variants(settings, chosen)
    full, thumb = "cutouts/my holiday photo(1).png", "variants/thumb/my holiday photo(1).jpg"
    assert [(o.key, o.format, o.variant) for o in written.outputs] == [
        (full, "png", "full"),
        (thumb, "jpg", "thumb"),
    ]
    assert stored_image(s3, settings, thumb).size == (32, 24)
    assert s3.objects[(settings.output_bucket, full)]["Metadata"]["variants"] == "thumb.jpg"
    assert s3.objects[(settings.output_bucket, thumb)]["Metadata"]["variant"] == "thumb"
    # the cutout's outcome knows its variant
    assert cutout_outcome(s3, settings, SOURCE.key).variant_keys == (thumb,)


def test_the_sources_colour_profile_is_embedded_in_the_rendered_outputs(settings):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    s3 = FakeS3()
    s3.put_object(Bucket=SOURCE.bucket, Key=SOURCE.key, Body=photo(icc_profile=profile))
    source = replace(
        SOURCE, version_id=None, etag=s3.head_object(Bucket=SOURCE.bucket, Key=SOURCE.key)["ETag"].strip('"')
    )
    written, s3 = write_variants(settings, variants("format=webp"), s3=s3, source=source)
    assert stored_image(s3, settings, written.key).info["icc_profile"] == profile


def test_a_cutout_in_a_new_format_replaces_the_older_uploads_cutout_and_its_variants(settings):
    s3 = FakeS3()
    write_variants(
        settings, variants("format=png", "format=jpg", names=("full", "thumb")), s3=s3, source=OLDER_UPLOAD
    )
    newer = replace(SOURCE, sequencer=NEWER)
    written, s3 = write_variants(settings, variants("format=webp"), s3=s3, source=newer)
    assert sorted(key for _, key in s3.objects) == [written.key]


def test_a_cutout_rewritten_without_a_variant_drops_only_that_variant(settings):
    s3 = FakeS3()
    chosen = variants("format=png", "format=jpg", "format=webp", names=("full", "thumb", "small"))
    write_variants(settings, chosen, s3=s3, source=OLDER_UPLOAD)
    newer = replace(SOURCE, sequencer=NEWER)
    write_variants(settings, chosen[:2], s3=s3, source=newer)
    assert sorted(key for _, key in s3.objects) == [
        "cutouts/my holiday photo(1).png",
        "variants/thumb/my holiday photo(1).jpg",
    ]
    assert (
        s3.objects[(settings.output_bucket, "variants/thumb/my holiday photo(1).jpg")]["Metadata"][
            "source-sequencer"
        ]
        == NEWER
    )


class NewerArrivesMidWrite(FakeS3):
    """A newer upload's cutout lands while the older one's variants are being written."""

    def __init__(self, settings) -> None:
        super().__init__()
        self.settings = settings

    def put_object(self, **kwargs):
        answer = super().put_object(**kwargs)
        if kwargs["Key"].startswith(self.settings.variant_prefix):
            newer = replace(SOURCE, sequencer=NEWER)
            metadata = {"source-bucket": newer.bucket, "source-key": quote(newer.key, safe="/")}
            metadata |= {"source-version": newer.revision, "source-sequencer": NEWER, "attempt": "0"}
            super().put_object(
                Bucket=self.settings.output_bucket,
                Key="cutouts/my holiday photo(1).webp",
                Body=b"newer",
                Metadata=metadata,
            )
        return answer


@pytest.mark.parametrize("newer", ["there before", "arriving mid-write"])
def test_no_variant_is_left_behind_when_a_newer_upload_stands(settings, newer):
    if newer == "there before":
        s3 = FakeS3()
        write_variants(settings, variants("format=webp"), s3=s3, source=replace(SOURCE, sequencer=NEWER))
    else:
        s3 = NewerArrivesMidWrite(settings)
    written, s3 = write_variants(
        settings, variants("format=png", "format=jpg", names=("a", "b")), s3=s3, source=OLDER_UPLOAD
    )
    assert (written.bytes, written.outputs) == (0, ())
    assert sorted(key for _, key in s3.objects) == ["cutouts/my holiday photo(1).webp"]


def test_a_failure_record_of_a_newer_upload_replaces_every_output_of_the_older_cutout(settings):
    s3 = FakeS3()
    write_variants(
        settings, variants("format=png", "format=jpg", names=("a", "b")), s3=s3, source=OLDER_UPLOAD
    )
    write_failure_record(s3, settings, replace(SOURCE, sequencer=NEWER), error="E", reason="r")
    assert sorted(key for _, key in s3.objects) == ["failures/uploads/my holiday photo(1).jpg.json"]


@pytest.mark.parametrize("size", ["one part", "in parts"])
def test_a_streamed_cutout_replacing_one_with_variants_takes_them_with_it(settings, size):
    s3 = RecordingS3()
    write_variants(
        settings, variants("format=png", "format=jpg", names=("full", "thumb")), s3=s3, source=OLDER_UPLOAD
    )
    body = CUTOUT if size == "one part" else CUTOUT + b"\0" * TRANSFER.multipart_threshold
    write(settings, task_result(), download(body), s3=s3, source=replace(SOURCE, sequencer=NEWER))
    assert sorted(key for _, key in s3.objects) == [OUTPUT_KEY]
