"""Install helpers. Standard library only: they run before anything is installed."""
