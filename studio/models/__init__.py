"""Model backends (each imports its heavy libraries lazily) and the registry."""
