"""``alpr run`` shows images (issue 18, item 1): every alert's read carries an ``image_ref`` to a
rendered plate crop and overview in the local store under the state directory, and the image
retention sweep runs as the retention service account (P11, P12)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import orjson
import pytest

from streams.images.store import key_of_ref, open_store
from tests.conftest import ROOT, settings_of
from tests.integration.kafka_helpers import read_topic
from tests.unit.test_image_render import decode_png

pytestmark = pytest.mark.e2e


def test_the_demos_alerts_have_plate_crops_and_the_sweep_runs(env_factory, broker) -> None:
    env = env_factory()
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "run", "--duration", "5", "--rate", "300", "--cameras", "50"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "alpr images sweep" in result.stdout
    settings = settings_of(env)
    raised = [
        event
        for record in asyncio.run(read_topic(settings.kafka, settings.topic("alerts")))
        if record.value and (event := orjson.loads(record.value)).get("event") == "AlertRaised"
    ]
    assert raised, result.stdout[-2000:]
    store = open_store(settings)
    for event in raised:
        key = key_of_ref(event["image_ref"])
        assert key is not None, event
        plate = asyncio.run(store.get(key, "plate"))
        assert plate is not None and plate.content_type == "image/png"
        width, height, _rows = decode_png(plate.data)
        assert (width, height) == (240, 120)
        assert asyncio.run(store.get(key, "overview")) is not None
    sweep_log = (settings.state_dir / "image-sweep.log").read_text()
    assert re.search(r"image sweep: images of 0 reads captured before ", sweep_log), sweep_log
