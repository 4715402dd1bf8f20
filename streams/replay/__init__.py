"""Replay and rematch for incident reconstruction (P11, P12), and the retro-hunt."""
