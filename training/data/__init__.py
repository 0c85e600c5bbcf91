"""Data sources: the raw schema, parquet input, the Ali-CCP converter, the synthetic generators."""
