"""Provider adapters: the only code that talks to an LLM endpoint."""
