"""Pipeline steps, each behind ``base.Step``: ``score`` (ONNX), ``llm`` (the LLM proxy),
``embed`` (embeddings into the vector store); ``publish`` builds the result event."""
