"""The peer benchmark's plain Quix Streams matcher (loadtest/peers.py starts it): an Application in
its own consumer group reads the filled reads topic from the beginning through a StreamingDataFrame
that JSON-decodes each record (Quix's own deserializer), looks each read's plate up by its
canonical key in a set, and sends each hit as an alert to an output topic. It stops once it has
seen ``--reads`` reads and prints what it did as JSON (loadtest.peers.Tally).

Written as the Quix Streams documentation shows, with its defaults (at-least-once, librdkafka);
no schema, camera, lateness, staleness or partial-pattern check.

    python -m loadtest.peers_quix --bootstrap 127.0.0.1:9092 --topic t.reads --output t.hits \\
        --group g --keys keys.txt --reads 1000000 --state-dir /tmp/quix
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from quixstreams import Application

from loadtest.peers import Tally, alerts_of, load_keys, peer_arguments


def main() -> None:
    parser = peer_arguments(__doc__)
    parser.add_argument("--state-dir", required=True, help="Quix's state folder (unused: no state)")
    args = parser.parse_args()
    keys = load_keys(args.keys)
    tally = Tally()
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel=logging.WARNING,
    )
    reads = app.topic(args.topic, value_deserializer="json")
    hits = app.topic(args.output, value_serializer="json")

    def match(value: Any) -> list[dict[str, Any]]:
        tally.started()
        alerts = alerts_of(value, keys, tally)
        tally.finished()
        if tally.reads >= args.reads:
            app.stop()  # after this record: its alerts are produced and its offset committed
        return alerts

    app.dataframe(reads).apply(match, expand=True).to_topic(hits)
    # timeout: stop when nothing came for that long (the report then shows the missing reads)
    app.run(timeout=args.idle_timeout, collect=False)
    tally.report("quix")
    sys.exit(0 if tally.reads >= args.reads else 1)


if __name__ == "__main__":
    main()
