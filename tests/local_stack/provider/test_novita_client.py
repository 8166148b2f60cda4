"""Novita's own Python SDK (`novita-client`, pinned in requirements-dev.txt) against the local provider."""

import base64

import novita_client
import pytest
from novita_client.proto import V3TaskResponseStatus

from tests.local_stack.provider.provider_helpers import KEY, Api, alpha_of, gift_box_scene


@pytest.fixture
def client(provider):
    return novita_client.NovitaClient(KEY, base_url=provider.base_url)


def test_the_sdk_removes_a_background_with_the_synchronous_twin(client):
    response = client.remove_background(gift_box_scene(), response_image_type="png")
    assert response.image_type == "png"
    assert alpha_of(base64.b64decode(response.image_file)).shape == (240, 320)


def test_the_sdk_polls_an_async_task_and_downloads_its_result(client, http, provider, inputs):
    task_id = Api(http, provider).task_id(f"{inputs}/photo.jpg")  # the SDK has no method for this submit
    result = client.wait_for_task_v3(task_id, wait_for=40)
    assert result.task.status == V3TaskResponseStatus.TASK_STATUS_SUCCEED
    assert result.images[0].image_url_ttl == 3600
    result.download_images()
    assert alpha_of(base64.b64decode(result.images_encoded[0])).shape == (240, 320)
