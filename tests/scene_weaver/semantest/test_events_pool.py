"""The `semantest-events` dialect on the renderer's broadcasting hub."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scene_weaver.errors import GenerationFailed
from scene_weaver.semantest import GeneratedImage
from tests.support.semantest import PoolFactory, RendererFactory

from .helpers import SIDE, expected_png, request


def test_two_workers_each_get_their_own_images(
    tmp_path: Path, renderer_factory: RendererFactory, pool_factory: PoolFactory
) -> None:
    renderer = renderer_factory("--dialect", "semantest-events", "--download-dir", str(tmp_path), latency=0.1)
    overrides = {"semantest_dialect": "semantest-events", "semantest_download_dir": tmp_path,
                 "semantest_pool_size": 3}
    pools = [pool_factory(renderer.url, **overrides) for _ in range(2)]  # two workers
    prompts = [f"scene {i}: a {color} kite over the sea" for i, color in
               enumerate(["red", "blue", "green", "gold", "violet", "black"] * 2)]
    requests = [request(prompt) for prompt in prompts]
    results: dict[str, object] = {}

    def one(index: int) -> None:
        req = requests[index]
        try:
            results[req.request_id] = pools[index % 2].generate(req)
        except Exception as exc:  # noqa: BLE001
            results[req.request_id] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for req in requests:
        image = results[req.request_id]
        assert isinstance(image, GeneratedImage), image
        assert image.data == expected_png(req), f"{req.prompt!r} got someone else's picture"
        assert (image.width, image.height) == (SIDE, SIDE)
    assert renderer.stats()["generated"] == len(requests)


def test_failure_response_for_own_request_fails_it(
    tmp_path: Path, renderer_factory: RendererFactory, pool_factory: PoolFactory
) -> None:
    renderer = renderer_factory("--dialect", "semantest-events", "--download-dir", str(tmp_path),
                                "--fail-rate", "1")
    pool = pool_factory(renderer.url, semantest_dialect="semantest-events", semantest_download_dir=tmp_path)
    with pytest.raises(GenerationFailed) as caught:
        pool.generate(request())
    assert caught.value.retryable
    assert renderer.stats()["failed"] == 1
