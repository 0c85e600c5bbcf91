"""The files and folders of a build directory, by artifact name (the manifest's `artifacts`)."""

from __future__ import annotations

ARTIFACTS = {
    "workflow": "workflow",
    "query_tower": "query_tower",
    "item_tower": "item_tower",
    "ranking_model": "ranking_model",
    "item_embeddings": "item_embeddings.parquet",
    "faiss_index": "items.faiss",
    "popular_items": "popular_items.parquet",
    "coclick": "coclick.parquet",
    "segment_popular": "segment_popular.parquet",
    "itemitem": "itemitem.parquet",
    "itemitem_weights": "itemitem_weights.npz",
    "item_clicks": "item_clicks.parquet",
    "interactions": "interactions.parquet",
    "shown": "shown.parquet",
    "feature_repo": "feature_repo",
}
