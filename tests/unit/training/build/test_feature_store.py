"""The Feast repository (standalone, loaded by Feast) and the code agree on the feature names."""

from __future__ import annotations

from services.ensemble.contract import ITEM_FEATURES, USER_FEATURES
from training.build.feature_store import REPO_SOURCE, load_definitions


def test_feature_views_list_the_contracts_features() -> None:
    definitions = load_definitions(REPO_SOURCE)
    views = {
        view.name: [field.name for field in view.features] for view in definitions.DEFINITIONS[2:]
    }
    assert views == {
        "user_features": ["user_id_encoded", *USER_FEATURES],
        "item_features": ["item_id_encoded", *ITEM_FEATURES],
    }
