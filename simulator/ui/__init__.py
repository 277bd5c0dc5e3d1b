"""Gradio user interface: one module per tab."""
