import re
from dataclasses import replace

import pytest

from cutout.keys import (
    decode_event_key,
    execution_name,
    failure_key,
    output_key,
    sequencer_after,
    skip_reason,
)
from cutout.state import SourceObject
from tests.support.events import load_event


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("uploads/my+holiday+photo%281%29.jpg", "uploads/my holiday photo(1).jpg"),
        ("uploads/a%2Bb.png", "uploads/a+b.png"),
        ("uploads/caf%C3%A9+%E5%86%99%E7%9C%9F.png", "uploads/café 写真.png"),
        ("uploads/100%25.jpg", "uploads/100%.jpg"),
    ],
)
def test_event_keys_are_url_decoded(raw, decoded):
    assert decode_event_key(raw) == decoded


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("uploads/albums/", "folder marker"),
        ("elsewhere/a.jpg", "outside the input prefix"),
        ("uploads/notes.txt", "suffix not in"),
        ("uploads/photo.JPG", None),
        ("uploads/photo.jpeg", None),
    ],
)
def test_skip_reasons(settings, key, reason):
    result = skip_reason(key, settings)
    assert (result is None) if reason is None else (reason in result)


def test_outputs_in_the_input_bucket_are_never_reprocessed(settings):
    same_bucket = replace(settings, output_bucket=settings.input_bucket, input_prefix="")
    assert "would recurse" in skip_reason("cutouts/a.png", same_bucket)
    assert "would recurse" in skip_reason("failures/a.png", same_bucket)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("uploads/a/b/photo.JPG", "cutouts/a/b/photo.png"),
        ("uploads/my photo (1).jpeg", "cutouts/my photo (1).png"),
        ("uploads/noext", "cutouts/noext.png"),
        ("uploads/dir.v2/noext", "cutouts/dir.v2/noext.png"),
    ],
)
def test_output_key_mapping(settings, key, expected):
    assert output_key(key, settings) == expected


def test_failure_key_keeps_the_whole_key(settings):
    assert failure_key("uploads/a b.jpg", settings) == "failures/uploads/a b.jpg.json"


def test_keys_longer_than_s3_allows_fall_back_to_a_digest(settings):
    key = "uploads/" + "é" * 510 + ".jpg"  # 1,032 bytes
    for mapped in (output_key(key, settings), failure_key(key, settings)):
        assert len(mapped.encode()) <= 1024
        assert "/long-keys/" in mapped


def test_execution_name_is_deterministic_valid_and_version_specific():
    source = SourceObject.from_dict(load_event("execution_input.json")["source"])
    name = execution_name(source)
    assert name == execution_name(SourceObject.from_dict(source.to_dict()))
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    assert name != execution_name(replace(source, version_id="another-version"))
    assert name != execution_name(replace(source, key=source.key + "x"))


def test_execution_name_for_unicode_and_long_keys():
    name = execution_name(SourceObject("b", "uploads/" + "写真" * 300 + ".png", etag="e"))
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)


def test_revision_prefers_version_over_etag():
    assert SourceObject("b", "k", version_id="v", etag="e").revision == "v"
    assert SourceObject("b", "k", etag="e").revision == "e"


@pytest.mark.parametrize(
    ("a", "b", "after"),
    [
        ("0055AED6DCD90281E6", "0055AED6DCD90281E5", True),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E6", False),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E5", False),
        ("0100", "FF", True),  # left-padded before comparing, as S3 documents
        ("ff", "0FE", True),
        (None, "01", False),
        ("01", None, False),
    ],
)
def test_sequencers_compare_as_s3_documents(a, b, after):
    assert sequencer_after(a, b) is after
