"""Plate reads: the model, the batching producer, the camera simulator."""

from streams.reads.model import Read

__all__ = ["Read"]
