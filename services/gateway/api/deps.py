"""Dependencies of the routes, resolved from the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.gateway.core.config import Settings
from services.gateway.core.interactions import InteractionStore
from services.gateway.core.metrics import Metrics
from services.gateway.core.triton import Recommender


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_recommender(request: Request) -> Recommender:
    recommender: Recommender = request.app.state.recommender
    return recommender


def get_interactions(request: Request) -> InteractionStore:
    store: InteractionStore = request.app.state.interactions
    return store


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
InteractionsDep = Annotated[InteractionStore, Depends(get_interactions)]
