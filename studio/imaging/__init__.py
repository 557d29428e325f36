"""Pure image code: numpy, Pillow and OpenCV only (no models, no UI)."""
