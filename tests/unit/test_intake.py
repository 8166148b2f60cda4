"""Admission of one upload, on in-memory S3, Step Functions and schedule: what is refused, what is
admitted, and that the execution starts with the state ``cutout.state`` defines."""

import json
import struct
import zlib

import pytest

from cutout.imaging import probe
from cutout.intake import HEAD_BYTES, Intake
from cutout.pacing import SubmissionPacer
from cutout.state import ExecutionState, SourceObject
from tests.support.fakes import Clock, FakeS3, FakeStepFunctions, FakeTable
from tests.support.images import photo


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature and IHDR chunk: all admission reads of a PNG (it never decodes the pixels)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


class Admission:
    def __init__(self, settings):
        self.settings = settings
        self.s3, self.sfn, self.clock = FakeS3(), FakeStepFunctions(), Clock()
        settings = {**settings.__dict__, "state_machine_arn": "arn:aws:states:us-east-1:1:stateMachine:m"}
        self.intake = Intake(
            settings=type(self.settings)(**settings),
            s3=self.s3,
            sfn=self.sfn,
            pacer=SubmissionPacer(FakeTable(), 10, clock=self.clock),
            clock=self.clock,
        )

    def upload(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.settings.input_bucket, Key=key, Body=body)
        return self.intake.process_object(SourceObject(self.settings.input_bucket, key, etag="e1"))

    def failure(self, key: str) -> dict:
        body = self.s3.objects[(self.settings.output_bucket, f"{self.settings.failure_prefix}{key}.json")][
            "Body"
        ]
        return json.loads(body)


@pytest.fixture
def admission(settings):
    return Admission(settings)


def test_an_admitted_upload_starts_its_execution_with_the_first_state(admission):
    assert admission.upload("uploads/a.jpg", photo()) == "admitted"
    [started] = admission.sfn.executions.values()
    state = ExecutionState.from_event(json.loads(started["input"]))
    assert state == ExecutionState.admitted(state.source, state.slot)
    assert (state.source.key, state.slot.at, state.slot.wait_seconds) == (
        "uploads/a.jpg",
        admission.clock.now,
        0,
    )


def test_a_duplicate_notification_starts_nothing_more(admission):
    admission.upload("uploads/a.jpg", photo())
    assert admission.intake.process_object(
        SourceObject(admission.settings.input_bucket, "uploads/a.jpg", etag="e1")
    ) == ("duplicate")
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
