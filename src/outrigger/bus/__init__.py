"""The event bus: the seam every broker implements (``base``), its shared pieces
(deliveries, topic patterns, dead-letter encoding) and one sub-package per broker kind,
each with the same inner layout: ``bus.py``, ``dlq.py``, ``settings.py``."""
