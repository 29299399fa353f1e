"""Everything about the Codex CLI's own files: session rollouts and its config/auth files."""
