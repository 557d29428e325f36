"""Gradio UI. The only package that imports gradio."""
