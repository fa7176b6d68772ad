"""The LLM proxy: every LLM call, from the gateway or from a pipeline, passes these steps."""
