"""The build's stages: features, models, candidate lists, choices, index, online store, export."""
