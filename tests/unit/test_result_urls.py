"""Where a result may be downloaded from: https from an allowed host; plain http only on loopback."""

import pytest

from cutout.errors import ResultRejectedError
from cutout.results import check_result_url

ALLOWED = ("*.novita.ai", "*.amazonaws.com", "127.0.0.1")


@pytest.mark.parametrize(
    "url",
    [
        "https://faas-output-image.s3.ap-southeast-1.amazonaws.com/prod/abc.png?X-Amz-Signature=x",
        "https://cdn.novita.ai/results/abc.png",
        "http://127.0.0.1:8088/_local/results/abc.png",
    ],
)
def test_https_from_an_allowed_host_is_accepted(url):
    check_result_url(url, ALLOWED)


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.novita.ai/results/abc.png",
        "http://faas-output-image.s3.amazonaws.com/abc.png",
        "ftp://cdn.novita.ai/abc.png",
        "file://cdn.novita.ai/etc/passwd",
    ],
)
def test_anything_but_https_is_refused_off_loopback(url):
    with pytest.raises(ResultRejectedError, match="https only"):
        check_result_url(url, ALLOWED)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/abc.png",
        "https://novita.ai.evil.example.com/abc.png",
        "https://127.0.0.2/abc.png",
        "https:///abc.png",
    ],
)
def test_hosts_outside_the_allow_list_are_refused(url):
    with pytest.raises(ResultRejectedError, match="not in RESULT_URL_ALLOWED_HOSTS"):
        check_result_url(url, ALLOWED)


def test_loopback_http_needs_the_host_in_the_allow_list():
    with pytest.raises(ResultRejectedError):
        check_result_url("http://127.0.0.1:8088/abc.png", ("*.novita.ai",))


def test_a_url_without_a_host_is_refused_naming_an_empty_host():
    with pytest.raises(ResultRejectedError) as raised:
        check_result_url("https:///abc.png", ALLOWED)
    assert str(raised.value) == "result host '' is not in RESULT_URL_ALLOWED_HOSTS"


def test_a_refusal_names_the_host_and_the_scheme():
    with pytest.raises(ResultRejectedError) as host:
        check_result_url("https://Evil.Example.com/abc.png", ALLOWED)
    with pytest.raises(ResultRejectedError) as scheme:
        check_result_url("http://cdn.novita.ai/abc.png", ALLOWED)
    assert str(host.value) == "result host 'evil.example.com' is not in RESULT_URL_ALLOWED_HOSTS"
    assert str(scheme.value) == "result URL scheme 'http' refused: https only"


@pytest.mark.parametrize("url", ["http://localhost:3001/abc.png", "http://[::1]:3001/abc.png"])
def test_every_loopback_name_of_the_local_stack_may_serve_plain_http(url):
    check_result_url(url, ("localhost", "::1"))


def test_hosts_in_the_allow_list_match_case_insensitively():
    check_result_url("https://CDN.Novita.AI/results/abc.png", ALLOWED)
