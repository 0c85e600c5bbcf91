"""Response bodies of the public API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecommendedItem(BaseModel):
    item_id: int = Field(description="Catalogue item id")
    score: float = Field(description="Ranking model's click probability (0 for fallback answers)")


class Recommendation(BaseModel):
    user_id: int
    items: list[RecommendedItem] = Field(description="Best first")
    fallback: bool = Field(
        description="True when the user is unknown and the most popular items answered"
    )
    model: str = Field(description="Triton model that answered")
    request_id: str = Field(description="Also sent as the X-Request-ID header")


class Problem(BaseModel):
    detail: str


class Health(BaseModel):
    status: str
