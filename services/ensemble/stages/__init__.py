"""The serving graph's stages, one per module (merlin.dag operators through operator.py).

Each names the columns it reads and writes in its constructor; `Stage.check_reads` checks them
when the graph is built, so a wiring mistake fails the build or export.
"""

from services.ensemble.stages.base import Columns, Stage, WiringError
from services.ensemble.stages.embed_items import EmbedOnlineItems
from services.ensemble.stages.fetch_features import FetchCatalogueFeatures, FetchFeatures
from services.ensemble.stages.fetch_past_items import FetchPastItems
from services.ensemble.stages.filter_candidates import FilterCandidates, excluded_mask
from services.ensemble.stages.merge_candidates import MergeCandidates
from services.ensemble.stages.order_by_score import OrderByScore, OrderInputs
from services.ensemble.stages.predict import PredictInProcess
from services.ensemble.stages.retrieve_candidates import NoRetrieval, RetrieveCandidates
from services.ensemble.stages.unroll_user_features import UnrollUserFeatures, unrolled

__all__ = [
    "Columns",
    "EmbedOnlineItems",
    "FetchCatalogueFeatures",
    "FetchFeatures",
    "FetchPastItems",
    "FilterCandidates",
    "MergeCandidates",
    "NoRetrieval",
    "OrderByScore",
    "OrderInputs",
    "PredictInProcess",
    "RetrieveCandidates",
    "Stage",
    "UnrollUserFeatures",
    "WiringError",
    "excluded_mask",
    "unrolled",
]
