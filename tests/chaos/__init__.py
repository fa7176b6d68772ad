"""Faults injected into real services under load, shared by ``benchmarks/chaos.py`` (big
sizes, a table of figures) and ``tests/integration/test_chaos_*.py`` (small sizes, asserted).

Each fault module returns a :class:`tests.chaos.model.Row`: what was sent, what came out,
what was lost or duplicated, and how long recovery took.
"""
