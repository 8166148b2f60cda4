"""Admission of one upload, on in-memory S3, Step Functions and schedule: what is refused, what is
admitted, and that the execution starts with the state ``cutout.state`` defines."""

import json
import struct
import zlib
from unittest import mock

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from cutout.errors import MalformedMessageError, SourceUnavailableError
from cutout.imaging import probe
from cutout.intake import HEAD_BYTES, LONG_HEAD_BYTES, MAX_WAITING_EXECUTIONS, Intake
from cutout.keys import execution_name, failure_key, output_key
from cutout.observability import logger
from cutout.options import OutputOptions
from cutout.pacing import SubmissionPacer
from cutout.state import ExecutionState, Poll, ReprocessRequest, Slot, SourceObject
from tests.support.events import load_event
from tests.support.fakes import Clock, FakeS3, FakeStepFunctions, FakeTable, client_error
from tests.support.images import photo
from tests.support.logs import function_log_lines

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:cutout-pipeline"


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature and IHDR chunk: all admission reads of a PNG (it never decodes the pixels)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


class RecordingS3(FakeS3):
    """FakeS3 that remembers its reads and can be told to fail one operation with an S3 error."""

    def __init__(self, input_bucket: str) -> None:
        super().__init__()
        self.input_bucket = input_bucket
        self.reads: list[tuple[str, dict]] = []
        self.failing: dict[str, Exception] = {}

    def head_object(self, **kwargs):
        return self._read("head_object", super().head_object, kwargs)

    def get_object(self, **kwargs):
        return self._read("get_object", super().get_object, kwargs)

    def _read(self, operation, read, kwargs):
        if kwargs["Bucket"] != self.input_bucket:  # the output bucket's outcomes, read before a record
            return read(**kwargs)
        self.reads.append((operation, kwargs))
        if operation in self.failing:
            raise self.failing[operation]
        return read(**kwargs)


class Admission:
    def __init__(self, settings, per_minute: int = 10, **overrides):
        self.settings = type(settings)(
            **{**settings.__dict__, "state_machine_arn": STATE_MACHINE_ARN, **overrides}
        )
        self.s3, self.sfn, self.clock = RecordingS3(self.settings.input_bucket), FakeStepFunctions(), Clock()
        self.table = FakeTable()
        self.pacer = SubmissionPacer(self.table, per_minute, clock=self.clock)
        self.intake = Intake(
            settings=self.settings, s3=self.s3, sfn=self.sfn, pacer=self.pacer, clock=self.clock
        )

    def upload(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> str:
        """Put the object and hand admission its notification (named by the ETag S3 gave it)."""
        put = self.s3.put_object(
            Bucket=self.settings.input_bucket, Key=key, Body=body, Metadata=metadata or {}
        )
        etag = put["ETag"].strip('"')
        return self.intake.process_object(SourceObject(self.settings.input_bucket, key, etag=etag))

    def source(self, key: str) -> SourceObject:
        """The upload at ``key`` as its notification names it (by its ETag: no version id)."""
        head = FakeS3.head_object(self.s3, Bucket=self.settings.input_bucket, Key=key)
        return SourceObject(self.settings.input_bucket, key, etag=head["ETag"].strip('"'))

    def ranges(self) -> list[str]:
        return [kwargs["Range"] for operation, kwargs in self.s3.reads if operation == "get_object"]

    def failure(self, key: str) -> dict:
        record = self.s3.objects[(self.settings.output_bucket, failure_key(key, self.settings))]
        return json.loads(record["Body"])


@pytest.fixture
def admission(settings):
    return Admission(settings)


def test_an_admitted_upload_starts_its_execution_with_the_first_state(admission):
    assert admission.upload("uploads/a.jpg", photo()) == "admitted"
    [started] = admission.sfn.executions.values()
    state = ExecutionState.from_event(json.loads(started["input"]))
    assert state == ExecutionState.admitted(state.source, state.slot, admitted_at=admission.clock.now)
    assert (state.source.key, state.slot.at, state.slot.wait_seconds) == (
        "uploads/a.jpg",
        admission.clock.now,
        0,
    )


def test_every_read_of_an_unversioned_upload_is_pinned_to_its_etag(admission):
    assert admission.upload("uploads/a.jpg", photo()) == "admitted"
    etag = admission.s3.head_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg")["ETag"]
    assert admission.s3.reads
    assert all(kwargs.get("IfMatch") == etag for _, kwargs in admission.s3.reads[:-1])


def test_an_upload_overwritten_since_its_notification_is_superseded_without_a_record(
    admission, added_metrics
):
    """Three quick uploads of one unversioned key: the first notification finds the third's bytes. It must
    not be admitted (its execution would submit the newer bytes) nor refused under its own name."""
    bucket = admission.settings.input_bucket
    first = admission.s3.put_object(Bucket=bucket, Key="uploads/a.jpg", Body=photo())["ETag"].strip('"')
    admission.s3.put_object(Bucket=bucket, Key="uploads/a.jpg", Body=b"not an image at all")
    outcome = admission.intake.process_object(SourceObject(bucket, "uploads/a.jpg", etag=first))
    assert outcome == "superseded"
    assert admission.sfn.executions == {}
    assert not [k for _, k in admission.s3.objects if k.startswith(admission.settings.failure_prefix)]
    added_metrics.assert_called_once_with(name="ImagesSuperseded", unit=MetricUnit.Count, value=1)


def test_a_duplicate_notification_starts_nothing_more(admission):
    admission.upload("uploads/a.jpg", photo())
    assert admission.intake.process_object(admission.source("uploads/a.jpg")) == ("duplicate")
    assert len(admission.sfn.executions) == 1


def test_a_duplicate_notification_leaves_the_schedule_where_it_was(admission):
    admission.upload("uploads/a.jpg", photo())
    schedule, requests = dict(admission.table.items), admission.table.requests
    for _ in range(5):
        assert admission.upload("uploads/a.jpg", photo()) == "duplicate"
    assert (admission.table.items, admission.table.requests) == (schedule, requests)


def test_the_execution_is_looked_up_by_its_arn_before_a_slot_is_reserved(admission):
    admission.upload("uploads/a.jpg", photo())
    [name] = admission.sfn.executions
    assert admission.sfn.described == [
        STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + f":{name}"
    ]


def test_a_duplicate_started_since_the_look_is_still_a_duplicate(admission):
    """Two notifications of one version at once: both look, both reserve, one starts; the other's slot
    goes unused (the rare race the look cannot close)."""

    def not_yet(**_):
        raise client_error("ExecutionDoesNotExist", "DescribeExecution")

    admission.sfn.describe_execution = not_yet
    assert admission.upload("uploads/a.jpg", photo()) == "admitted"
    assert admission.upload("uploads/a.jpg", photo()) == "duplicate"
    assert len(admission.sfn.executions) == 1


def test_a_jpeg_whose_size_header_lies_past_the_first_look_is_admitted(admission):
    """Large EXIF/XMP/ICC blocks push the frame header past the first 64 KiB: a second, longer look."""
    body = photo(64, 48, "JPEG", icc_profile=bytes(200_000))
    assert probe(body[:HEAD_BYTES]).width is None  # the first look alone cannot tell the size
    assert admission.upload("uploads/big-metadata.jpg", body) == "admitted"


def test_a_jpeg_without_a_size_header_is_refused_as_corrupt(admission):
    body = photo(64, 48, "JPEG")
    sof = body.index(b"\xff\xc0")
    assert admission.upload("uploads/cut.jpg", body[:sof]) == "rejected"
    assert "truncated or corrupt" in admission.failure("uploads/cut.jpg")["reason"]


def test_an_image_of_exactly_the_megapixel_limit_is_admitted(admission):
    """MAX_INPUT_MEGAPIXELS is inclusive, like Novita's documented "up to 16 megapixels"."""
    assert admission.settings.max_input_megapixels == 16
    assert admission.upload("uploads/limit.png", png_header(4000, 4000)) == "admitted"


def test_one_pixel_row_over_the_megapixel_limit_is_refused(admission):
    assert admission.upload("uploads/over.png", png_header(4000, 4001)) == "rejected"
    assert "over MAX_INPUT_MEGAPIXELS" in admission.failure("uploads/over.png")["reason"]


# --- what is not ours ---------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["uploads/", "uploads/album/", "elsewhere/a.jpg"])
def test_an_object_that_is_not_ours_is_skipped_unread(admission, added_metrics, key):
    source = SourceObject(admission.settings.input_bucket, key, etag="e1")
    assert admission.intake.process_object(source) == "skipped"
    assert (admission.s3.reads, admission.sfn.executions, admission.s3.objects) == ([], {}, {})
    added_metrics.assert_called_once_with(name="ImagesSkipped", unit=MetricUnit.Count, value=1)


def test_an_object_of_another_bucket_is_skipped_unread(admission, added_metrics):
    admission.s3.put_object(Bucket="someone-elses-bucket", Key="uploads/a.jpg", Body=photo())
    source = SourceObject("someone-elses-bucket", "uploads/a.jpg", etag="e1")
    assert admission.intake.process_object(source) == "skipped"
    assert (admission.s3.reads, admission.sfn.executions) == ([], {})
    added_metrics.assert_called_once_with(name="ImagesSkipped", unit=MetricUnit.Count, value=1)


# --- what is refused ----------------------------------------------------------------------------------
def rejection(admission, key: str) -> tuple[str, str]:
    record = admission.failure(key)
    return record["error"], record["reason"]


def test_an_empty_file_is_refused(admission):
    assert admission.upload("uploads/empty.jpg", b"") == "rejected"
    assert rejection(admission, "uploads/empty.jpg") == ("UnsupportedInputError", "empty file (0 bytes)")
    assert admission.sfn.executions == {}


def test_a_file_of_exactly_max_input_bytes_is_admitted(settings):
    body = photo()
    admission = Admission(settings, max_input_bytes=len(body))
    assert admission.upload("uploads/limit.jpg", body) == "admitted"


def test_a_file_one_byte_over_max_input_bytes_is_refused_after_the_first_look(settings):
    body = photo()
    admission = Admission(settings, max_input_bytes=len(body) - 1)
    assert admission.upload("uploads/big.jpg", body) == "rejected"
    assert rejection(admission, "uploads/big.jpg") == (
        "UnsupportedInputError",
        f"file is {len(body)} bytes, over MAX_INPUT_BYTES ({len(body) - 1})",
    )
    assert admission.ranges() == ["bytes=0-65535"]  # the object's size comes with its first bytes


def test_the_size_is_the_whole_objects_also_from_a_store_that_ignores_the_range(settings):
    class WholeObjects(RecordingS3):
        def get_object(self, **kwargs):  # the whole object: its length, no ContentRange
            return super().get_object(**{**kwargs, "Range": None})

    body = photo()
    admission = Admission(settings, max_input_bytes=len(body) - 1)
    admission.s3 = WholeObjects(admission.settings.input_bucket)
    admission.intake = Intake(
        settings=admission.settings, s3=admission.s3, sfn=admission.sfn, pacer=admission.pacer
    )
    assert admission.upload("uploads/big.jpg", body) == "rejected"
    assert rejection(admission, "uploads/big.jpg")[1] == (
        f"file is {len(body)} bytes, over MAX_INPUT_BYTES ({len(body) - 1})"
    )


def test_a_file_that_is_no_image_is_refused(admission):
    assert admission.upload("uploads/notes.jpg", b"Dear diary, today I took a photo.") == "rejected"
    assert rejection(admission, "uploads/notes.jpg") == (
        "UnsupportedInputError",
        "not an image: its first bytes match no image format",
    )


@pytest.mark.parametrize(
    ("key", "found"),
    [
        ("uploads/photo.svg", "suffix .svg"),
        ("uploads/album/IMG_0001.PSD", "suffix .PSD"),
        ("uploads/photo.jxl", "suffix .jxl"),
        ("uploads/README", "a name without a suffix"),
        ("uploads/.hidden", "a name without a suffix"),
    ],
)
def test_an_upload_with_another_suffix_is_refused_unread_naming_what_is_accepted(admission, key, found):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key=key, Body=photo(fmt="GIF"))
    assert admission.intake.process_object(SourceObject(admission.settings.input_bucket, key)) == "rejected"
    assert rejection(admission, key) == (
        "UnsupportedInputError",
        f"unsupported type: {found}; accepted are files named .jpg, .jpeg, .png, .webp, .heic, .heif, "
        ".avif, .tif, .tiff, .bmp, .gif (AcceptedSuffixes) whose content is JPEG or PNG, or the format "
        "their suffix names",
    )
    assert (admission.s3.reads, admission.sfn.executions) == ([], {})


def test_the_accepted_suffixes_named_are_the_settings(settings):
    admission = Admission(settings, accepted_suffixes=(".png",))
    admission.upload("uploads/a.jpg", photo())
    assert "accepted are files named .png (AcceptedSuffixes)" in rejection(admission, "uploads/a.jpg")[1]


def test_an_image_of_a_format_neither_sent_nor_converted_is_refused_by_name(admission):
    assert admission.upload("uploads/scan.png", b"%PDF-1.7\n" + bytes(100)) == "rejected"
    assert rejection(admission, "uploads/scan.png") == (
        "UnsupportedInputError",
        "PDF is not supported: JPEG or PNG, or one of AVIF, BMP, GIF, HEIC, HEIF, TIFF, WEBP in a file "
        "named for it",
    )


def test_a_converted_format_under_another_formats_name_is_refused_naming_its_suffixes(admission):
    assert admission.upload("uploads/anim.png", photo(fmt="GIF")) == "rejected"
    assert rejection(admission, "uploads/anim.png") == (
        "UnsupportedInputError",
        "GIF content in a file not named .gif: a GIF upload is converted only when its name says so "
        "(JPEG or PNG are sent under any name)",
    )
    assert admission.sfn.executions == {}


def test_a_heic_named_jpg_is_refused_naming_both_heic_suffixes(admission):
    assert admission.upload("uploads/iphone.jpg", photo(fmt="HEIF")) == "rejected"
    assert rejection(admission, "uploads/iphone.jpg")[1].startswith(
        "HEIC content in a file not named .heic/.heif: "
    )


@pytest.mark.parametrize(
    ("key", "fmt", "convert_from"),
    [
        ("uploads/a.webp", "WEBP", "webp"),
        ("uploads/a.GIF", "GIF", "gif"),
        ("uploads/a.bmp", "BMP", "bmp"),
        ("uploads/a.tif", "TIFF", "tiff"),
        ("uploads/a.tiff", "TIFF", "tiff"),
        ("uploads/IMG_0001.HEIC", "HEIF", "heic"),
        ("uploads/IMG_0001.heif", "HEIF", "heic"),
        ("uploads/a.avif", "AVIF", "avif"),
    ],
)
def test_a_converted_format_named_for_it_is_admitted_to_be_converted(admission, key, fmt, convert_from):
    assert admission.upload(key, photo(fmt=fmt)) == "admitted"
    [execution] = admission.sfn.executions.values()
    assert json.loads(execution["input"])["convert_from"] == convert_from


def test_its_pixel_size_is_left_to_the_conversion(admission):
    """Its header is not read for a size: a 5000x4000 GIF is admitted (ConvertFunction refuses it)."""
    assert admission.upload("uploads/wide.gif", photo(5000, 4000, "GIF")) == "admitted"


@pytest.mark.parametrize(
    ("key", "fmt"), [("uploads/phone.heic", "JPEG"), ("uploads/web.webp", "PNG"), ("uploads/x.gif", "PNG")]
)
def test_jpeg_or_png_under_a_converted_formats_name_is_sent_as_it_is(admission, key, fmt):
    assert admission.upload(key, photo(fmt=fmt)) == "admitted"
    [execution] = admission.sfn.executions.values()
    assert json.loads(execution["input"])["convert_from"] is None


def test_a_jpeg_or_png_is_sent_as_it_is(admission):
    assert admission.upload("uploads/a.jpg", photo()) == "admitted"
    [execution] = admission.sfn.executions.values()
    assert json.loads(execution["input"])["convert_from"] is None


def test_a_jpeg_without_a_size_header_is_refused_with_the_format_named(admission):
    body = photo(64, 48, "JPEG")
    admission.upload("uploads/cut.jpg", body[: body.index(b"\xff\xc0")])
    assert rejection(admission, "uploads/cut.jpg") == (
        "UnsupportedInputError",
        "JPEG header is truncated or corrupt: no pixel size",
    )


def test_a_png_cut_inside_its_header_is_refused_as_corrupt(admission):
    assert admission.upload("uploads/cut.png", png_header(640, 480)[:20]) == "rejected"
    assert rejection(admission, "uploads/cut.png")[1] == "PNG header is truncated or corrupt: no pixel size"


def test_an_image_over_the_megapixel_limit_is_refused_with_its_size(admission):
    admission.upload("uploads/over.png", png_header(4000, 4001))
    assert rejection(admission, "uploads/over.png") == (
        "UnsupportedInputError",
        "image is 4000x4001 (16.0 MP), over MAX_INPUT_MEGAPIXELS (16)",
    )


def test_a_megapixel_limit_with_a_fraction_is_quoted_as_set(settings):
    admission = Admission(settings, max_input_megapixels=2.5)
    admission.upload("uploads/over.png", png_header(2000, 1300))
    assert rejection(admission, "uploads/over.png")[1] == (
        "image is 2000x1300 (2.6 MP), over MAX_INPUT_MEGAPIXELS (2.5)"
    )


# --- the reads ----------------------------------------------------------------------------------------
def test_the_exact_version_is_read_and_only_its_first_64_kib(admission):
    body = photo()
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=body)
    source = SourceObject(admission.settings.input_bucket, "uploads/a.jpg", version_id="v2", etag="e2")
    assert admission.intake.process_object(source) == "admitted"
    location = {"Bucket": admission.settings.input_bucket, "Key": "uploads/a.jpg", "VersionId": "v2"}
    assert admission.s3.reads == [("get_object", {"Range": "bytes=0-65535", **location})]  # no HEAD


def test_a_jpeg_whose_size_header_lies_past_the_first_look_is_read_again_up_to_1_mib(admission):
    admission.upload("uploads/big-metadata.jpg", photo(64, 48, "JPEG", icc_profile=bytes(200_000)))
    assert admission.ranges() == ["bytes=0-65535", f"bytes=0-{LONG_HEAD_BYTES - 1}"]
    assert LONG_HEAD_BYTES == 1024 * 1024


def test_a_jpeg_read_whole_by_the_first_look_is_not_read_again(admission):
    """Exactly 64 KiB and no size header: the first look saw every byte there is."""
    body = photo(64, 48, "JPEG")
    cut = body[: body.index(b"\xff\xc0")]
    comment = b"\xff\xfe" + struct.pack(">H", HEAD_BYTES - len(cut) - 2) + bytes(HEAD_BYTES - len(cut) - 4)
    whole = cut + comment
    assert len(whole) == HEAD_BYTES
    assert probe(whole).width is None
    assert admission.upload("uploads/cut.jpg", whole) == "rejected"
    assert admission.ranges() == ["bytes=0-65535"]


def test_a_large_png_is_read_once(admission):
    admission.upload("uploads/big.png", png_header(640, 480) + bytes(2 * HEAD_BYTES))
    assert admission.ranges() == ["bytes=0-65535"]


def test_a_large_jpeg_whose_size_is_in_the_first_look_is_read_once(admission):
    body = photo() + bytes(2 * HEAD_BYTES)  # what follows the size header is never looked at
    assert admission.upload("uploads/big.jpg", body) == "admitted"
    assert admission.ranges() == ["bytes=0-65535"]


# --- S3 errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["404", "NoSuchKey", "NoSuchVersion", "403", "AccessDenied"])
def test_an_object_gone_or_unreadable_is_refused_for_good(admission, code):
    admission.s3.failing["get_object"] = client_error(code, "GetObject")
    assert admission.upload("uploads/a.jpg", photo()) == "rejected"
    assert rejection(admission, "uploads/a.jpg") == (
        "UnsupportedInputError",
        f"object is gone or unreadable ({code}): deleted before processing?",
    )
    assert admission.sfn.executions == {}


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "AccessDenied",
            "User: arn:aws:sts::123456789012:assumed-role/cutout-SubmitFunctionRole/x is not authorized "
            "to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/1234",
        ),
        ("KMS.DisabledException", "arn:aws:kms:us-east-1:123456789012:key/1234 is disabled."),
    ],
    ids=["no grant on the uploader's key", "key disabled"],
)
def test_an_upload_under_a_kms_key_the_stack_may_not_use_is_refused_saying_which_parameter_helps(
    admission, code, message
):
    admission.s3.failing["get_object"] = ClientError(
        {"Error": {"Code": code, "Message": message}}, "GetObject"
    )
    assert admission.upload("uploads/a.jpg", photo()) == "rejected"
    error, reason = rejection(admission, "uploads/a.jpg")
    assert error == "UnsupportedInputError"
    assert reason == (
        f"object is encrypted with a KMS key this stack may not use ({code}): add the key's ARN to the "
        "stack's InputKmsKeyArns parameter, then reprocess the upload"
    )


def test_an_object_deleted_before_admission_is_refused(admission):
    source = SourceObject(admission.settings.input_bucket, "uploads/gone.jpg", etag="e1")
    assert admission.intake.process_object(source) == "rejected"
    assert "gone or unreadable (NoSuchKey)" in rejection(admission, "uploads/gone.jpg")[1]


@pytest.mark.parametrize("code", ["SlowDown", "InternalError", "503", "RequestTimeout"])
def test_a_transient_s3_error_propagates_for_redelivery(admission, code):
    admission.s3.failing["get_object"] = client_error(code, "GetObject")
    with pytest.raises(SourceUnavailableError) as raised:
        admission.upload("uploads/a.jpg", photo())
    assert str(raised.value) == f"S3 get_object failed: {code}"
    assert admission.sfn.executions == {}
    assert list(admission.s3.objects) == [
        (admission.settings.input_bucket, "uploads/a.jpg")
    ]  # no failure record


def test_an_s3_error_without_a_code_is_transient(admission):
    admission.s3.failing["get_object"] = ClientError({}, "GetObject")
    with pytest.raises(SourceUnavailableError, match=r"^S3 get_object failed: None$"):
        admission.upload("uploads/a.jpg", photo())


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), "EndpointConnectionError"),
        (ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), "ReadTimeoutError"),
    ],
)
def test_a_network_failure_reading_s3_is_transient(admission, error, name):
    admission.s3.failing["get_object"] = error
    with pytest.raises(SourceUnavailableError) as raised:
        admission.upload("uploads/a.jpg", photo())
    assert str(raised.value) == f"S3 get_object failed: {name}"


# --- the execution ------------------------------------------------------------------------------------
def test_the_execution_is_started_on_the_state_machine_named_for_the_object_version(admission):
    admission.upload("uploads/a.jpg", photo())
    source = admission.source("uploads/a.jpg")
    assert list(admission.sfn.executions) == [execution_name(source)]
    assert admission.sfn.executions[execution_name(source)]["stateMachineArn"] == STATE_MACHINE_ARN


def test_the_execution_input_is_the_admitted_state_with_its_slot(admission):
    admission.upload("uploads/a.jpg", photo())
    admission.upload("uploads/b.jpg", photo())
    source = admission.source("uploads/b.jpg")
    started = json.loads(admission.sfn.executions[execution_name(source)]["input"])
    slot_at = admission.clock.now + admission.pacer.spacing
    assert started == {
        "source": source.to_dict(),
        "admitted_at": admission.clock.now,
        "task_id": None,
        "submitted_at": None,
        "slot": {"at": pytest.approx(slot_at, abs=1e-5), "wait_seconds": 6},
        "poll": Poll.initial().to_dict(),
        "attempt": 0,
        "superseded": False,
        "variants": [],
        "convert_from": None,
    }
    assert ExecutionState.from_event(started).slot == Slot(pytest.approx(slot_at, abs=1e-5), 6)


def test_an_admission_counts_one_image_admitted_and_how_long_it_waits_for_its_slot(admission, added_metrics):
    admission.upload("uploads/a.jpg", photo())
    admission.upload("uploads/b.jpg", photo())  # the next slot, one spacing later
    spacing = 60 / admission.settings.submissions_per_minute * 1.05
    assert added_metrics.call_args_list == [
        mock.call(name="ImagesAdmitted", unit=MetricUnit.Count, value=1),
        mock.call(name="SlotWaitSeconds", unit=MetricUnit.Seconds, value=0.0),
        mock.call(name="ImagesAdmitted", unit=MetricUnit.Count, value=1),
        mock.call(name="SlotWaitSeconds", unit=MetricUnit.Seconds, value=pytest.approx(spacing, abs=0.01)),
    ]


def test_a_duplicate_counts_nothing_admitted(admission, added_metrics):
    admission.upload("uploads/a.jpg", photo())
    added_metrics.reset_mock()
    admission.upload("uploads/a.jpg", photo())
    added_metrics.assert_not_called()


def test_a_refused_start_other_than_a_duplicate_propagates(admission):
    def throttled(**_):
        raise client_error("ThrottlingException", "StartExecution")

    admission.sfn.start_execution = throttled
    with pytest.raises(ClientError, match="ThrottlingException"):
        admission.upload("uploads/a.jpg", photo())


def test_a_start_refused_without_an_error_code_propagates(admission):
    def refused(**_):
        raise ClientError({}, "StartExecution")

    admission.sfn.start_execution = refused
    with pytest.raises(ClientError):
        admission.upload("uploads/a.jpg", photo())


# --- a message ----------------------------------------------------------------------------------------
def test_each_record_of_a_message_has_its_outcome(admission):
    bucket = admission.settings.input_bucket
    admission.s3.put_object(Bucket=bucket, Key="uploads/a.jpg", Body=photo())
    admission.s3.put_object(Bucket=bucket, Key="uploads/b.jpg", Body=b"")

    def created(key: str) -> dict:
        return {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}

    message = json.dumps(
        {"Records": [created("uploads/a.jpg"), created("uploads/b.jpg"), created("notes/c.txt")]}
    )
    assert admission.intake.process_message(message) == ["admitted", "rejected", "skipped"]


# --- the log ------------------------------------------------------------------------------------------
def test_the_lines_logged_about_an_upload_name_its_key_and_revision(admission):
    logger.clear_state()
    source = SourceObject(admission.settings.input_bucket, "notes/memo.txt", version_id="v7", etag="e7")
    with function_log_lines() as lines:
        admission.intake.process_object(source)
    [skipped] = [json.loads(line) for line in lines if '"skipped"' in line]
    assert (skipped["object_key"], skipped["object_revision"]) == ("notes/memo.txt", "v7")


def test_a_failed_look_up_other_than_not_found_propagates_as_it_came(admission):
    def broken(**_):
        raise ClientError({}, "DescribeExecution")

    admission.sfn.describe_execution = broken
    with pytest.raises(ClientError):
        admission.upload("uploads/a.jpg", photo())
    assert admission.sfn.executions == {}


def test_no_more_uploads_wait_than_step_functions_keeps_open(settings):
    """At 6,000 submissions a minute MaxBacklogDays (14) would hold 121 million slots: the bound is the
    open-execution quota instead, and the upload past it gets a failure record, not a DLQ trip."""
    fast = Admission(settings, per_minute=6000)
    fast.pacer.reserve(not_before=fast.clock.now + MAX_WAITING_EXECUTIONS * fast.pacer.spacing + 1)
    assert fast.upload("uploads/a.jpg", photo()) == "rejected"
    assert fast.failure("uploads/a.jpg")["error"] == "BacklogFullError"
    assert fast.sfn.executions == {}


def test_an_upload_past_max_backlog_days_gets_a_failure_record_at_once_and_reserves_nothing(admission):
    bound = admission.settings.max_backlog_seconds
    admission.pacer.reserve(not_before=admission.clock.now + bound + 1)
    before = dict(admission.table.items)
    assert admission.upload("uploads/late.jpg", photo()) == "rejected"
    failure = admission.failure("uploads/late.jpg")
    assert failure["error"] == "BacklogFullError"
    assert failure["reason"] == (
        "not admitted: the submission schedule is full for longer than MaxBacklogDays (14) allows, or to "
        "Step Functions' quota of open executions (the next free submission slot is 1209607 s away "
        "(limit 1209600 s)). Nothing was sent to the provider; upload it again later, or raise "
        "MaxBacklogDays or SubmissionsPerMinute."
    )
    assert admission.sfn.executions == {}
    assert admission.table.items == before


def test_an_upload_just_within_max_backlog_days_is_admitted_to_wait(admission):
    bound = admission.settings.max_backlog_seconds
    admission.pacer.reserve(not_before=admission.clock.now + bound - admission.pacer.spacing)
    assert admission.upload("uploads/patient.jpg", photo()) == "admitted"


# --- reprocess requests -------------------------------------------------------------------------------
def reprocess(admission, key: str, attempt: int, version_id: str | None = None) -> list[str]:
    source = SourceObject(admission.settings.input_bucket, key, version_id=version_id)
    return admission.intake.process_message(ReprocessRequest(source, attempt).to_message())


def test_a_reprocess_request_starts_an_execution_of_its_own_with_its_attempt(admission):
    assert admission.upload("uploads/a.jpg", photo()) == "admitted"
    assert reprocess(admission, "uploads/a.jpg", attempt=1) == ["admitted"]
    [first, again] = admission.sfn.executions.values()
    assert json.loads(first["input"])["attempt"] == 0
    assert json.loads(again["input"])["attempt"] == 1


def test_the_same_reprocess_request_twice_starts_one_execution(admission):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=photo())
    assert reprocess(admission, "uploads/a.jpg", attempt=1) == ["admitted"]
    assert reprocess(admission, "uploads/a.jpg", attempt=1) == ["duplicate"]
    assert reprocess(admission, "uploads/a.jpg", attempt=2) == ["admitted"]
    assert len(admission.sfn.executions) == 2


def test_a_reprocess_request_without_a_version_is_pinned_to_the_object_as_it_is_now(admission):
    body = photo()
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=body)
    reprocess(admission, "uploads/a.jpg", attempt=1)
    [started] = admission.sfn.executions.items()
    state = ExecutionState.from_event(json.loads(started[1]["input"]))
    etag = admission.s3.head_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg")["ETag"]
    assert state.source == SourceObject(
        admission.settings.input_bucket, "uploads/a.jpg", etag=etag.strip('"')
    )
    assert started[0] == execution_name(state.source, 1)


def test_a_reprocess_request_of_a_version_reads_that_version(admission):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=photo())
    reprocess(admission, "uploads/a.jpg", attempt=3, version_id="v7")
    assert {kwargs.get("VersionId") for _, kwargs in admission.s3.reads} == {"v7"}
    [started] = admission.sfn.executions.values()
    assert ExecutionState.from_event(json.loads(started["input"])).source.version_id == "v7"


def test_a_reprocess_request_of_what_is_no_image_gets_a_failure_record_with_its_attempt(admission):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=b"text")
    assert reprocess(admission, "uploads/a.jpg", attempt=2) == ["rejected"]
    record = admission.failure("uploads/a.jpg")
    assert (record["error"], record["attempt"]) == ("UnsupportedInputError", 2)


def test_a_reprocess_request_of_a_key_that_is_not_ours_is_skipped(admission):
    assert reprocess(admission, "notes/a.txt", attempt=1) == ["skipped"]
    assert admission.sfn.executions == {}


def test_a_reprocess_request_this_code_cannot_read_is_a_malformed_message(admission):
    message = json.loads(ReprocessRequest(SourceObject("b", "uploads/a.jpg"), 1).to_message())
    with pytest.raises(MalformedMessageError):
        admission.intake.process_message(json.dumps({**message, "schema": 2}))
    assert admission.sfn.executions == {}


# --- every message and record has a fate ----------------------------------------------------------------
def warnings_and_infos(admission, message: str) -> tuple[list[str], list[dict]]:
    logger.clear_state()
    with function_log_lines() as lines:
        outcomes = admission.intake.process_message(message)
    return outcomes, [json.loads(line) for line in lines]


def test_an_eventbridge_event_is_ignored_with_a_warning_and_counted(admission, added_metrics):
    message = json.dumps(load_event("eventbridge_s3_object_created.json"))
    outcomes, [line] = warnings_and_infos(admission, message)
    assert outcomes == ["ignored"]
    assert (line["level"], line["message"]) == ("WARNING", "message ignored")
    assert line["reason"].startswith("an EventBridge event from S3 ('Object Created')")
    added_metrics.assert_called_once_with(name="MessagesIgnored", unit=MetricUnit.Count, value=1)
    assert (admission.s3.reads, admission.sfn.executions) == ([], {})


def test_a_message_of_another_shape_is_ignored_with_a_warning_and_counted(admission, added_metrics):
    outcomes, [line] = warnings_and_infos(admission, '{"hello": "world"}')
    assert (outcomes, line["level"], line["message"]) == (["ignored"], "WARNING", "message ignored")
    added_metrics.assert_called_once_with(name="MessagesIgnored", unit=MetricUnit.Count, value=1)


def test_a_record_of_another_event_is_ignored_with_a_warning_and_counted(admission, added_metrics):
    bucket = admission.settings.input_bucket
    restored = {
        "eventName": "ObjectRestore:Completed",
        "s3": {"bucket": {"name": bucket}, "object": {"key": "a"}},
    }
    outcomes, [line] = warnings_and_infos(admission, json.dumps({"Records": [restored]}))
    assert (outcomes, line["level"], line["message"]) == (["ignored"], "WARNING", "record ignored")
    added_metrics.assert_called_once_with(name="RecordsIgnored", unit=MetricUnit.Count, value=1)


def test_the_s3_test_event_is_logged_at_info_and_counts_nothing(admission, added_metrics):
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": admission.settings.input_bucket}
    outcomes, [line] = warnings_and_infos(admission, json.dumps(test_event))
    assert (outcomes, line["level"]) == (["test event"], "INFO")
    added_metrics.assert_not_called()


def removal(admission, key: str, **obj: str) -> str:
    bucket = admission.settings.input_bucket
    record = {
        "eventName": "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, **obj}},
    }
    return json.dumps({"Records": [record]})


def test_a_deletion_is_ignored_with_a_warning_while_remove_outputs_on_delete_is_off(admission, added_metrics):
    assert admission.settings.remove_outputs_on_delete is False
    outcomes, [line] = warnings_and_infos(admission, removal(admission, "uploads/a.jpg", versionId="v1"))
    assert (outcomes, line["level"], line["message"]) == (["ignored"], "WARNING", "record ignored")
    assert line["reason"] == "an upload was deleted, and RemoveOutputsOnDelete is off"
    added_metrics.assert_called_once_with(name="RecordsIgnored", unit=MetricUnit.Count, value=1)


def test_a_deletion_removes_the_uploads_cutout_when_remove_outputs_on_delete_is_on(settings):
    admission = Admission(settings, remove_outputs_on_delete=True)
    cutout = output_key("uploads/a.jpg", admission.settings)
    metadata = {
        "source-bucket": admission.settings.input_bucket,
        "source-key": "uploads/a.jpg",
        "source-etag": "e1",
    }
    admission.s3.put_object(
        Bucket=admission.settings.output_bucket, Key=cutout, Body=b"png", Metadata=metadata
    )
    assert admission.intake.process_message(
        removal(admission, "uploads/a.jpg", eTag="e1", versionId="v1")
    ) == ["removed"]
    assert admission.s3.objects == {}


@pytest.mark.parametrize("key", ["uploads/album/", "elsewhere/a.jpg"])
def test_a_deletion_of_what_is_not_ours_is_skipped(settings, key):
    admission = Admission(settings, remove_outputs_on_delete=True)
    assert admission.intake.process_message(removal(admission, key, versionId="v1")) == ["skipped"]
    assert admission.s3.reads == []


# --- output options -----------------------------------------------------------------------------------
def started_variants(admission: Admission, key: str) -> list[dict[str, str | None]]:
    started = json.loads(admission.sfn.executions[execution_name(admission.source(key))]["input"])
    return started["variants"]


def test_an_upload_without_options_carries_none_and_is_streamed_as_it_came(admission):
    admission.upload("uploads/a.jpg", photo(), {"photographer": "ann"})
    assert started_variants(admission, "uploads/a.jpg") == []


def test_options_in_the_uploads_metadata_are_resolved_at_admission_and_carried(admission):
    admission.upload("uploads/a.jpg", photo(), {"cutout-format": "webp", "cutout-crop": "subject"})
    assert started_variants(admission, "uploads/a.jpg") == [
        {
            "variant": None,
            "options": (
                "format=webp background=transparent crop=subject margin=0px channels=rgba max_size=none"
            ),
        }
    ]


def test_the_longest_prefix_rule_applies_over_the_stack_default_and_metadata_over_both(settings):
    admission = Admission(
        settings,
        output_options=OutputOptions.parse(
            "format=webp", "uploads/: max_size=512; uploads/products/: background=#ffffff crop=subject"
        ),
    )
    admission.upload("uploads/products/shoe.jpg", photo(), {"cutout-crop": "none"})
    [variant] = started_variants(admission, "uploads/products/shoe.jpg")
    assert variant["options"] == (
        "format=webp background=#ffffffff crop=none margin=0px channels=rgba max_size=none"
    )


def test_named_variants_are_carried_in_order(admission):
    metadata = {"cutout-variants": "full,thumb", "cutout-thumb.max-size": "256", "cutout-thumb.format": "jpg"}
    admission.upload("uploads/a.jpg", photo(), metadata)
    assert [
        (v["variant"], v["options"].split()[0]) for v in started_variants(admission, "uploads/a.jpg")
    ] == [
        ("full", "format=png"),
        ("thumb", "format=jpg"),
    ]


def test_a_bad_option_is_refused_at_admission_naming_the_option_and_what_is_accepted(admission):
    assert admission.upload("uploads/a.jpg", photo(), {"cutout-format": "gif"}) == "rejected"
    assert rejection(admission, "uploads/a.jpg") == (
        "OutputOptionsError",
        'option "format" = "gif" (from the object\'s metadata cutout-format): accepted are png, webp, jpg '
        "(or jpeg)",
    )
    assert admission.sfn.executions == {}


# --- Backfill: an object listed in the input bucket, admitted as its own notification would be -------


def backfill(admission, key: str, etag: str | None = None) -> list[str]:
    """What admission makes of the backfill's message for ``key``, listed with ``etag`` (by default the
    ETag the object has now, quoted as ListObjectsV2 lists it)."""
    if etag is None:
        etag = FakeS3.head_object(admission.s3, Bucket=admission.settings.input_bucket, Key=key)["ETag"]
    message = {
        "message": "cutout.backfill",
        "schema": 1,
        "bucket": admission.settings.input_bucket,
        "key": key,
        "etag": etag,
    }
    return admission.intake.process_message(json.dumps(message))


def test_a_backfilled_object_starts_the_execution_its_own_notification_would(admission):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=photo())
    assert backfill(admission, "uploads/a.jpg") == ["admitted"]
    [(name, started)] = admission.sfn.executions.items()
    state = ExecutionState.from_event(json.loads(started["input"]))
    assert state.attempt == 0
    assert name == execution_name(admission.source("uploads/a.jpg"))


def test_a_backfill_racing_the_notification_starts_one_execution(admission):
    assert admission.upload("uploads/a.jpg", photo()) == "admitted"
    assert backfill(admission, "uploads/a.jpg") == ["duplicate"]
    assert len(admission.sfn.executions) == 1


def test_a_notification_after_the_backfill_starts_nothing_more(admission):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=photo())
    assert backfill(admission, "uploads/a.jpg") == ["admitted"]
    assert admission.intake.process_object(admission.source("uploads/a.jpg")) == "duplicate"
    assert len(admission.sfn.executions) == 1


def test_an_upload_that_has_its_failure_record_is_skipped_and_counted(admission, added_metrics):
    assert admission.upload("uploads/a.txt", b"text") == "rejected"
    added_metrics.reset_mock()
    assert backfill(admission, "uploads/a.txt") == ["skipped"]
    assert admission.sfn.executions == {}
    added_metrics.assert_called_once_with(name="BackfillSkipped", unit=MetricUnit.Count, value=1)


def test_an_upload_that_has_its_cutout_is_skipped_without_reading_its_bytes(admission):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=photo())
    source = admission.source("uploads/a.jpg")
    metadata = {"source-bucket": source.bucket, "source-key": source.key, "source-etag": source.etag}
    admission.s3.put_object(
        Bucket=admission.settings.output_bucket,
        Key=output_key("uploads/a.jpg", admission.settings),
        Body=b"png",
        Metadata=metadata,
    )
    assert backfill(admission, "uploads/a.jpg") == ["skipped"]
    assert [operation for operation, _ in admission.s3.reads] == ["head_object"]
    assert admission.sfn.executions == {}


def test_the_skip_is_logged_at_info_saying_why(admission, caplog):
    assert admission.upload("uploads/a.txt", b"text") == "rejected"
    caplog.clear()
    backfill(admission, "uploads/a.txt")
    [record] = [r for r in caplog.records if r.getMessage().startswith("skipped")]
    assert (record.levelname, record.getMessage()) == ("INFO", "skipped: this upload already has its outcome")
    assert record.reason == "backfill: failures/uploads/a.txt.json is the outcome of this very upload"


def test_an_upload_whose_outcome_is_of_an_older_upload_is_processed(admission):
    assert admission.upload("uploads/a.jpg", b"text") == "rejected"  # the older upload's failure record
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=photo())
    assert backfill(admission, "uploads/a.jpg") == ["admitted"]


def test_an_object_overwritten_since_it_was_listed_is_superseded_without_a_record(admission, added_metrics):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=photo())
    assert backfill(admission, "uploads/a.jpg", etag='"0123456789abcdef"') == ["superseded"]
    assert admission.sfn.executions == {}
    assert (admission.settings.output_bucket, failure_key("uploads/a.jpg", admission.settings)) not in (
        admission.s3.objects
    )
    added_metrics.assert_called_once_with(name="ImagesSuperseded", unit=MetricUnit.Count, value=1)


def test_a_backfilled_object_outside_the_input_prefix_is_skipped_unread(admission, added_metrics):
    assert backfill(admission, "notes/a.jpg", etag='"0123"') == ["skipped"]
    assert admission.s3.reads == []
    added_metrics.assert_called_once_with(name="ImagesSkipped", unit=MetricUnit.Count, value=1)


def test_a_backfilled_object_that_is_no_image_gets_its_failure_record_as_attempt_0(admission):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=b"text")
    assert backfill(admission, "uploads/a.jpg") == ["rejected"]
    record = admission.failure("uploads/a.jpg")
    assert (record["error"], record["attempt"]) == ("UnsupportedInputError", 0)


def test_a_backfilled_object_with_another_suffix_gets_its_failure_record(admission):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.txt", Body=photo())
    assert backfill(admission, "uploads/a.txt") == ["rejected"]
    assert "unsupported type: suffix .txt" in admission.failure("uploads/a.txt")["reason"]


def test_a_backfilled_object_deleted_since_it_was_listed_is_refused_as_its_notification_would_be(
    admission,
):
    assert backfill(admission, "uploads/a.jpg", etag='"0123"') == ["rejected"]
    assert "object is gone or unreadable" in admission.failure("uploads/a.jpg")["reason"]


def test_a_transient_error_reading_the_listed_object_propagates_for_redelivery(admission):
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=photo())
    admission.s3.failing["head_object"] = client_error("SlowDown", "HeadObject")
    with pytest.raises(SourceUnavailableError):
        backfill(admission, "uploads/a.jpg", etag='"0123"')


class VersionedS3(RecordingS3):
    """A versioned bucket: HEAD answers the current version's id."""

    def head_object(self, **kwargs):
        return {**super().head_object(**kwargs), "VersionId": "v7"}


def test_a_backfilled_object_of_a_versioned_bucket_is_named_and_read_by_its_version(settings):
    admission = Admission(settings)
    admission.s3 = VersionedS3(admission.settings.input_bucket)
    admission.intake = Intake(
        settings=admission.settings, s3=admission.s3, sfn=admission.sfn, pacer=admission.pacer
    )
    admission.s3.put_object(Bucket=admission.settings.input_bucket, Key="uploads/a.jpg", Body=photo())
    assert backfill(admission, "uploads/a.jpg") == ["admitted"]
    [(name, started)] = admission.sfn.executions.items()
    source = ExecutionState.from_event(json.loads(started["input"])).source
    assert source.version_id == "v7"
    assert name == execution_name(SourceObject(source.bucket, "uploads/a.jpg", version_id="v7"))
    assert {kwargs.get("VersionId") for _, kwargs in admission.s3.reads[1:]} == {"v7"}
