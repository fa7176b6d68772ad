"""The composition root: every dependency is built here, once, from the settings, and
closed here. ``loading`` reads pipelines, models and vaults; ``worker`` opens the worker's
dependencies on one exit stack and runs it; ``gateway`` builds the HTTP API."""

from outrigger.runtime.loading import (
    bus_session,
    event_sanitizer,
    event_vaults,
    load_models,
    load_pipeline_set,
    open_bus_only,
    pipelines_path,
    subscription,
)
from outrigger.runtime.worker import Runtime, build_runtime, serve

__all__ = [
    "Runtime",
    "build_runtime",
    "bus_session",
    "event_sanitizer",
    "event_vaults",
    "load_models",
    "load_pipeline_set",
    "open_bus_only",
    "pipelines_path",
    "serve",
    "subscription",
]
