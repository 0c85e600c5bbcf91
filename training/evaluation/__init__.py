"""Evaluation: the build's table beside baselines, the served top-10 replayed, the ceilings."""
