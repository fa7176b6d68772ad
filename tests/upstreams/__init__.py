"""Local stand-ins for provider APIs, started by the tests (one module per wire format)."""
