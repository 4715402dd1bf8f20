"""Kafka plumbing: the embedded broker and the topic declaration."""

from streams.kafka.broker import EmbeddedBroker
from streams.kafka.topics import TopicSpec, create_topics, describe_topics, topic_specs

__all__ = ["EmbeddedBroker", "TopicSpec", "create_topics", "describe_topics", "topic_specs"]
