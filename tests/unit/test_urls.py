"""The URL helpers: what counts as the local stack's loopback, and what a log or record may show of a URL."""

import pytest

from cutout.urls import is_loopback, redact


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_the_local_stacks_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["127.0.0.2", "localhost.example.com", "10.0.0.1", "192.168.1.10", ""])
def test_no_host_on_a_network_is_loopback(host):
    assert not is_loopback(host)


def test_the_query_of_every_url_in_a_text_is_dropped():
    text = (
        "GET https://b.s3.amazonaws.com/k.jpg?X-Amz-Signature=abc failed, "
        "then 'http://127.0.0.1:9000/k?sig=1&x=2' too"
    )
    assert redact(text) == (
        "GET https://b.s3.amazonaws.com/k.jpg?… failed, then 'http://127.0.0.1:9000/k?…' too"
    )


def test_text_without_a_url_query_is_unchanged():
    assert redact("result is 'text/html', not an image https://cdn.novita.ai/a.png") == (
        "result is 'text/html', not an image https://cdn.novita.ai/a.png"
    )
