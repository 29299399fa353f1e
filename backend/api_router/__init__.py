"""API Router: a local OpenAI-compatible gateway that routes Codex across upstream providers."""

__version__ = "0.1.0"
