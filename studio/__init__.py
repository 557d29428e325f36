"""Studio: local-first AI product photography."""

__version__ = "0.1.0"
