"""The application layer: the flows the UI, the CLI and the HTTP API share, side by
side on one floor (cutout, shoot, touch-up, review, batch, history, engines), over the
app context (store, stage registry, ledger, running jobs). Nothing here imports
gradio, tqdm or rich; nothing above it imports `studio.pipeline` or `studio.models`."""
