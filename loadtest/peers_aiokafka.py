"""The peer benchmark's raw aiokafka matcher (loadtest/peers.py starts it): one consumer in its own
group reads the filled reads topic from the beginning; each record is JSON-decoded, each read's
plate looked up by its canonical key in a set, and each hit sent as an alert to an output topic.
It stops once it has seen ``--reads`` reads and prints what it did as JSON (loadtest.peers.Tally).

No schema, camera, lateness, staleness or partial-pattern check: this is what a user comparing
stream matchers writes in an afternoon, the floor the project's worker is measured against.

    python -m loadtest.peers_aiokafka --bootstrap 127.0.0.1:9092 --topic t.reads --output t.hits \\
        --group g --keys keys.txt --reads 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from loadtest.peers import Tally, alerts_of, load_keys, peer_arguments


async def match(args: argparse.Namespace) -> Tally:
    keys = load_keys(args.keys)
    tally = Tally()
    consumer = AIOKafkaConsumer(
        args.topic, bootstrap_servers=args.bootstrap, group_id=args.group, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap)
    await consumer.start()
    await producer.start()
    try:
        while tally.reads < args.reads:
            batch = await consumer.getmany(timeout_ms=args.idle_timeout * 1000)
            if not batch:
                break  # nothing for idle_timeout: the report shows how many reads were missing
            tally.started()
            for records in batch.values():
                for record in records:
                    alerts = alerts_of(orjson.loads(record.value), keys, tally)
                    for alert in alerts:
                        await producer.send(args.output, orjson.dumps(alert))
            tally.finished()
        await producer.flush()  # every alert is on the output topic before the offsets are committed
        await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return tally


def main() -> None:
    args = peer_arguments(__doc__).parse_args()
    tally = asyncio.run(match(args))
    tally.report("aiokafka")
    sys.exit(0 if tally.reads >= args.reads else 1)


if __name__ == "__main__":
    main()
