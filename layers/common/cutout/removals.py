"""Deleting an upload removes its outputs (the template's RemoveOutputsOnDelete, off by default): the
cutout and the failure record of the key go when they are still the outcome of what was deleted.

- An object version deleted by its version id: the outputs go when they are of that version (same
  version id or ETag, as their metadata or record names it), or of an older upload of the key by S3's
  sequencer. A newer version's outputs stay; an older version that becomes the current one again is not
  processed again (``tools/reprocess.py`` does that).
- The key deleted as a whole (a delete marker in a versioned bucket, which counts as deleting the newest
  version; or a delete in an unversioned bucket): while the key stays deleted (HEAD answers 404 when the
  event is handled), the outputs go whichever upload they are of, unless S3's sequencers say they are of
  an upload made after the delete. Once the key holds an object again, only outputs of uploads older
  than the delete by sequencer go; the new upload's own outcome replaces the rest.
- Outputs of another key that maps to the same cutout (``a.jpg`` and ``a.png``) are never removed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from cutout.keys import sequencer_after
from cutout.observability import logger, metrics
from cutout.outcomes import Outcome, all_outcomes, delete_outcome
from cutout.settings import Settings
from cutout.state import SourceObject

# Without s3:ListBucket on the input bucket, HEAD of a missing key answers 403, not 404.
_ABSENT = frozenset({"404", "NoSuchKey", "403", "AccessDenied"})


def remove_outputs(s3: Any, settings: Settings, removed: SourceObject) -> list[str]:
    """Delete the outputs that ``removed`` (a deleted version, or a deleted key: no version id) leaves
    without a source; returns their keys."""
    key_gone = removed.version_id is None and not _exists(s3, removed)
    gone: list[str] = []
    for outcome in all_outcomes(s3, settings, removed.key):
        if _orphaned(outcome, removed, key_gone) and delete_outcome(s3, settings, outcome):
            gone.extend(outcome.keys)
    if gone:
        metrics.add_metric(name="OutputsRemoved", unit=MetricUnit.Count, value=len(gone))
        logger.info("outputs of a deleted upload removed", extra={"removed_keys": gone})
    else:
        logger.info("deleted upload: no output of it to remove")
    return gone


def _orphaned(outcome: Outcome, removed: SourceObject, key_gone: bool) -> bool:
    if (outcome.bucket, outcome.source_key) != (removed.bucket, removed.key):
        return False
    if outcome.is_of(removed):
        return True
    if removed.version_id is not None:
        # A version deleted by its id takes only its own outputs: its record's sequencer is the DELETE's,
        # later than every upload, so comparing with it would take a newer version's outputs too.
        return False
    # The key as a whole went (a delete marker, an unversioned delete): what is older than the delete goes.
    return outcome.is_older_upload_than(removed) or (
        key_gone and not sequencer_after(outcome.sequencer, removed.sequencer)
    )


def _exists(s3: Any, removed: SourceObject) -> bool:
    try:
        s3.head_object(Bucket=removed.bucket, Key=removed.key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in _ABSENT:
            return False
        raise
    return True
