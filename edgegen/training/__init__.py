"""Datasets, models, losses, training loops, metrics and figures (needs torch: `pip install edgegen[train]`)."""
