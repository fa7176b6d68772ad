"""Outrigger: an AI sidecar for existing enterprise systems."""

__version__ = "0.1.0"
