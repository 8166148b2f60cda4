"""The one loader of the sample events in events/: the tests use the same files as `sam local invoke`;
and the S3 notification of a real upload, made from the sample."""

import datetime
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from cutout.state import SourceObject

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def s3_notification(upload: SourceObject, *, size: int, region: str) -> str:
    """The message S3 sends to a queue for ``upload`` (``ObjectCreated:Put``): the sample's record with
    the upload's bucket, key (URL-encoded as S3 encodes it), size, ETag, and version id and sequencer
    when known."""
    body = json.loads(load_event("sqs_s3_object_created.json")["Records"][0]["body"])
    [record] = body["Records"]
    record["awsRegion"] = region
    record["eventTime"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    record["s3"]["bucket"].update(name=upload.bucket, arn=f"arn:aws:s3:::{upload.bucket}")
    obj = {"key": quote_plus(upload.key, safe="/"), "size": size, "eTag": upload.etag}
    if upload.version_id:
        obj["versionId"] = upload.version_id
    if upload.sequencer:
        obj["sequencer"] = upload.sequencer
    record["s3"]["object"] = obj
    return json.dumps(body)
