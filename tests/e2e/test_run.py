"""``alpr run`` (what ``make run`` calls) as a new user runs it: real broker, real worker, real feed.

The feed starts once the worker screens (its group holds the partitions, its hot list is loaded)
and the run ends once the worker has committed everything it was sent: on a loaded machine the
run takes longer, it does not show fewer alerts (issue 14, item 9).
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys

import orjson
import pytest

from streams.images.store import key_of_ref, open_store
from streams.kafka.broker import free_port
from tests.conftest import ROOT, settings_of
from tests.integration.kafka_helpers import read_topic
from tests.unit.test_image_render import decode_png

pytestmark = pytest.mark.e2e


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "run", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_run_on_the_embedded_broker_shows_alerts_and_cleans_up(env_factory, tmp_path) -> None:
    port = free_port()
    # the worker's camera check at its default: `alpr run` registers its simulated cameras (issue 9)
    env = env_factory(
        ALPR_EMBEDDED_PORT=str(port),
        ALPR_STATE_DIR=str(tmp_path / "state"),
        ALPR_REQUIRE_REGISTERED_CAMERA="true",
    )
    del env["ALPR_BROKER_URL"]
    result = run(env, "--duration", "8", "--rate", "500", "--cameras", "100")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    out = result.stdout
    ready = out.index("worker ready: partitions assigned, hot list loaded")
    assert ready < out.index("ALERT (UNVERIFIED)") < out.index("sent ")
    assert f"embedded broker on 127.0.0.1:{port}" in out
    assert f"http://127.0.0.1:{env['ALPR_METRICS_PORT']}/metrics" in out
    assert "Ctrl-C" in out
    assert f"console       http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/" in out and "user demo" in out
    assert "ncic: 4 added" in out and "1 dropped (P5)" in out  # the sample's Immigration Violator record
    assert "approved by Lt. Marcus Hale" in out  # department entries go through approval (P2)
    alerts = [line for line in out.splitlines() if line.startswith("ALERT (UNVERIFIED)")]
    sent = int(re.search(r"sent (\d+) reads, (\d+) alerts shown", out).group(1))
    assert sent >= 0.9 * 8 * 500  # --duration counts from readiness: the whole feed was sent
    assert len(alerts) >= 5, out[-3000:]
    assert len({line.rsplit("id ", 1)[1] for line in alerts}) == len(alerts)  # no duplicate alert ids
    # issue 18, item 7: alerts by camera name, a summary instead of a line per sighting, P24 shown
    # a name, not an id; a patrol unit's with the street it was on when the streets know it
    named = r" at (simulated patrol unit cam-\d+( (on|near) [^|:]+)?|[^|]+ & [^|]+): \w+ match \| id "
    assert all(re.search(named, line) for line in alerts), alerts[:5]
    assert re.search(r"summary: \d+ open alerts?, \d+ sightings? since the last summary, [\d,]+ reads", out)
    assert "SIGHTED again" not in out
    refusals = [line for line in out.splitlines() if " not registered: within " in line]
    assert len(refusals) == 2 and all(line.endswith("(P24)") for line in refusals), refusals
    assert "sensitive sites: " in out and "sensitive-sites.geojson" in out
    with socket.socket() as sock:  # the broker it started is stopped again
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert "compacted topics' segments rolled every 43200s" in out  # san_jose: 1-day segments
    roll_log = (tmp_path / "state" / "retention-roll.log").read_text()
    assert re.search(r"rolled \d+ partitions", roll_log), roll_log
    worker_log = (tmp_path / "state" / "worker.log").read_text()
    assert "Traceback" not in worker_log
    assert "camera registry: 110 cameras" in worker_log  # 100 mobile units, the 10 fixed cameras placed


def test_run_with_broker_url_uses_that_broker_and_its_alerts_have_plate_crops(env_factory, broker) -> None:
    """On a broker given by URL (the shared one keeps running after), with images (issue 18, item
    1): every alert's read carries an ``image_ref`` to a rendered plate crop and overview in the
    local store under the state directory, and the image retention sweep runs (P11, P12)."""
    env = env_factory()
    result = run(env, "--duration", "5", "--rate", "300", "--cameras", "50")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"using Kafka at {broker.bootstrap}" in result.stdout
    assert "worker ready" in result.stdout
    assert "embedded broker on" not in result.stdout
    assert "ALERT (UNVERIFIED)" in result.stdout
    with socket.socket() as sock:  # the shared broker still runs
        assert sock.connect_ex(("127.0.0.1", broker.port)) == 0

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
