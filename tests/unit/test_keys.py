import hashlib
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
    staging_key,
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
        ("uploads/notes.txt", None),  # ours: refused with a failure record that says what is accepted
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
    assert "would recurse" in skip_reason("staging/0a1b.png", same_bucket)


def test_staged_copies_are_ours_when_they_share_the_input_bucket_even_under_the_input_prefix(settings):
    same_bucket = replace(settings, output_bucket=settings.input_bucket, staging_prefix="uploads/.staging/")
    assert skip_reason("uploads/.staging/0a1b.png", same_bucket) == (
        "under the output prefix 'uploads/.staging/' (would recurse)"
    )


def test_a_staging_key_is_one_per_upload_version_in_the_staging_prefix(settings):
    first = SourceObject("in", "uploads/IMG_0001.HEIC", version_id="v1")
    keys = {
        staging_key(s, settings) for s in (first, replace(first, version_id="v2"), replace(first, key="x"))
    }
    assert len(keys) == 3
    assert all(k.startswith("staging/") and k.endswith(".png") and len(k) == 8 + 64 + 4 for k in keys)
    assert staging_key(first, settings) == staging_key(replace(first, sequencer="0055"), settings)


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


def test_skip_reasons_say_which_prefix(settings):
    assert skip_reason("uploads/albums/", settings) == "folder marker"
    assert skip_reason("elsewhere/a.jpg", settings) == "outside the input prefix 'uploads/'"


def test_a_recursing_key_names_the_prefix_it_is_under(settings):
    same_bucket = replace(settings, output_bucket=settings.input_bucket, input_prefix="")
    assert skip_reason("failures/a.jpg", same_bucket) == "under the output prefix 'failures/' (would recurse)"


def test_output_prefixes_matter_only_when_outputs_share_the_input_bucket(settings):
    everything = replace(settings, input_prefix="")
    assert skip_reason("cutouts/a.jpg", everything) is None


def test_output_key_replaces_only_the_last_extension(settings):
    assert output_key("uploads/holiday.2024.08.beach.jpg", settings) == "cutouts/holiday.2024.08.beach.png"


def test_output_key_of_a_hidden_file_keeps_its_name(settings):
    assert output_key("uploads/.jpg", settings) == "cutouts/.png"


def test_a_key_of_exactly_1024_bytes_is_kept(settings):
    key = "uploads/" + "a" * (1024 - len("failures/uploads/.json"))
    mapped = failure_key(key, settings)
    assert len(mapped.encode()) == 1024
    assert mapped == f"failures/{key}.json"
    photo = "uploads/" + "a" * (1024 - len("cutouts/.png")) + ".jpg"
    assert output_key(photo, settings) == photo.replace("uploads/", "cutouts/").replace(".jpg", ".png")


def test_a_key_one_byte_over_falls_back_to_the_digest_of_the_source_key(settings):
    key = "uploads/" + "a" * (1025 - len("failures/uploads/.json"))
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert failure_key(key, settings) == f"failures/long-keys/{digest}.json"


def test_long_keys_fall_back_to_distinct_digests(settings):
    first, second = "uploads/" + "é" * 510 + ".jpg", "uploads/" + "è" * 510 + ".jpg"
    expected = f"cutouts/long-keys/{hashlib.sha256(first.encode()).hexdigest()}.png"
    assert output_key(first, settings) == expected
    assert output_key(second, settings) != expected


def test_execution_name_starts_with_the_file_name_then_the_version_digest():
    source = SourceObject("cutout-input", "uploads/2024/my photo (1).jpg", version_id="3HL4kqtJlcpXroDTDmJ")
    digest = hashlib.sha256(b"cutout-input\nuploads/2024/my photo (1).jpg\n3HL4kqtJlcpXroDTDmJ").hexdigest()
    assert execution_name(source) == f"my-photo-1-jpg-{digest[:40]}"


def test_execution_name_tells_buckets_apart():
    source = SourceObject("cutout-input", "uploads/a.jpg", etag="e")
    assert execution_name(source) != execution_name(replace(source, bucket="cutout-input-eu"))


def test_execution_name_hint_is_cut_to_fit_80_characters():
    source = SourceObject("b", "uploads/" + "holiday-" * 10 + ".jpg", etag="e")
    name = execution_name(source)
    assert len(name) == 79
    assert name.startswith("holiday-holiday-holiday-holiday-holida-")


def test_execution_name_without_a_usable_hint_is_the_digest_alone():
    source = SourceObject("b", "uploads/写真", etag="e")
    name = execution_name(source)
    assert re.fullmatch(r"[0-9a-f]{40}", name)


@pytest.mark.parametrize(
    ("a", "b", "after"),
    [
        ("1", "0FF", False),  # "1" pads to "001"
        ("100", "FF", True),
        ("", "01", False),
        ("01", "", False),
    ],
)
def test_sequencers_of_different_lengths_and_unknown_ones(a, b, after):
    assert sequencer_after(a, b) is after


def test_execution_name_of_a_key_at_the_bucket_root_starts_with_its_name():
    assert execution_name(SourceObject("b", "IMG_0042.jpg", etag="e")).startswith("IMG_0042-jpg-")


def test_execution_name_hint_loses_only_leading_and_trailing_separators():
    assert execution_name(SourceObject("b", "uploads/(1) Xmas card X", etag="e")).startswith("1-Xmas-card-X-")


def test_a_shorter_sequencer_is_padded_with_zeros_not_blanks():
    assert sequencer_after("0FE", "FF") is False


# --- attempts (reprocess requests) --------------------------------------------------------------------
SOURCE = SourceObject("cutout-input", "uploads/albums/cat photo.jpg", version_id="v1", etag="e1")


def test_the_uploads_own_attempt_keeps_the_name_uploads_always_had():
    digest = hashlib.sha256(b"cutout-input\nuploads/albums/cat photo.jpg\nv1").hexdigest()[:40]
    assert execution_name(SOURCE, 0) == execution_name(SOURCE) == f"cat-photo-jpg-{digest}"


def test_each_reprocess_attempt_has_a_name_of_its_own_that_says_which():
    names = [execution_name(SOURCE, attempt) for attempt in range(4)]
    assert len(set(names)) == 4
    assert names[1].startswith("cat-photo-jpg-r1-")
    assert names[3].startswith("cat-photo-jpg-r3-")


def test_the_same_attempt_of_the_same_version_has_the_same_name():
    assert execution_name(SOURCE, 2) == execution_name(replace(SOURCE, sequencer="0A"), 2)
    assert execution_name(SOURCE, 2) != execution_name(replace(SOURCE, version_id="v2"), 2)


@pytest.mark.parametrize("attempt", [1, 9, 12345, 10**30])
@pytest.mark.parametrize("name", ["x" * 200 + ".jpg", "写真.jpg", "---.jpg", "a.jpg"])
def test_attempt_names_stay_valid_and_within_80_characters(attempt, name):
    result = execution_name(SourceObject("b", f"uploads/{name}", etag="e"), attempt)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", result)
    assert f"r{attempt}-" in result
