"""Machine-readable contracts of a deployment: ``asyncapi_document`` describes what it consumes
and publishes (AsyncAPI 3.0.0), derived from the pipelines file and the bus settings."""

from outrigger.contracts.asyncapi import ASYNCAPI, asyncapi_document

__all__ = ["ASYNCAPI", "asyncapi_document"]
