"""Fine-tuning tasks: label lists, record schemas and post-processing per original task name.

Modules here are pure Python / NumPy (no TensorFlow at import), so data-preparation jobs and
prediction code can share them.
"""
