"""The pipeline engine: envelopes in, steps run, result events out, on any bus.

``envelope`` decodes CloudEvents and plain JSON, ``mapping`` reads payload fields,
``pipeline`` binds a pipelines file to its models and steps, ``worker`` is the delivery
policy (ack after the result is confirmed, retries, dead letters) and ``results`` encodes
result events with deterministic ids.
"""
