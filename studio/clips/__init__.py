"""Product clips: short videos made from a finished shot (presets, the classic layer
renderer, encoding and checking the file, and image-to-video models on a GPU)."""
