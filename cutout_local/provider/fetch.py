"""Fetch a task's input image from its URL, streamed, with a size cap enforced while reading."""

import urllib3

from .image_io import InputError

CHUNK = 64 * 1024
# Redirects only: urllib3 logs the full URL (a presigned URL's signature included) when it retries.
RETRIES = urllib3.Retry(total=3, connect=0, read=0, status=0, other=0, redirect=3)


def fetch_image(http: urllib3.PoolManager, url: str, *, max_bytes: int, timeout: urllib3.Timeout) -> bytes:
    """The body of `url` (HTTP 200 only), at most `max_bytes` long; any failure raises `InputError`.

    The URL is whatever the client submitted: this is a development server that must reach local
    emulators, so private addresses are allowed on purpose.
    """
    try:
        response = http.request("GET", url, preload_content=False, timeout=timeout, retries=RETRIES)
    except urllib3.exceptions.HTTPError as e:
        cause = e.reason if isinstance(e, urllib3.exceptions.MaxRetryError) and e.reason else e
        raise InputError(
            "IMAGE_FETCH_FAILED", f"could not fetch the image URL ({type(cause).__name__})"
        ) from e
    try:
        if response.status != 200:
            raise InputError("IMAGE_FETCH_FAILED", f"the image URL answered HTTP {response.status}")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise InputError("IMAGE_TOO_LARGE", f"the image is {declared} bytes, more than {max_bytes}")
        body = bytearray()
        for chunk in response.stream(CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise InputError("IMAGE_TOO_LARGE", f"the image is more than {max_bytes} bytes")
        return bytes(body)
    except urllib3.exceptions.HTTPError as e:
        raise InputError("IMAGE_FETCH_FAILED", f"reading the image URL failed ({type(e).__name__})") from e
    finally:
        response.close()
        response.release_conn()
