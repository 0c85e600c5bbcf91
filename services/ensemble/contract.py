"""Names shared by the offline build and the serving graph: features and the Triton contract."""

from __future__ import annotations

USER_FEATURES: tuple[str, ...] = (
    "user_shops",
    "user_profile",
    "user_group",
    "user_gender",
    "user_age",
    "user_consumption_2",
    "user_is_occupied",
    "user_geography",
    "user_intentions",
    "user_brands",
    "user_categories",
)
"""The 11 user features the reference notebooks feed to both models."""

ITEM_FEATURES: tuple[str, ...] = ("item_category", "item_shop", "item_brand")

MODEL_NAME = "executor_model"
INPUT = "user_id"
"""INT32 [n]: catalogue user ids, one answer per id."""
OUTPUTS: tuple[str, ...] = ("ordered_ids", "ordered_scores", "fallback")
"""INT32 [n, k] catalogue item ids, best first; FP32 [n, k] their ranking scores;
BOOL [n] true where the user was unknown and popular items answered."""
EXPLAIN_INPUT = "explain"
"""Optional BOOL [n, 1]: true asks for EXPLAIN_OUTPUT too (a slower path, taken only then)."""
EXPLAIN_OUTPUT = "explanation"
"""BYTES [n, 1]: per user, a JSON document of what each stage found (explain.py); produced
only for requests whose EXPLAIN_INPUT is true."""

INTERACTIONS_PREFIX = "multi_stage_recsys:interactions:"
"""Redis SET per user of the catalogue item ids they clicked in the build's data: owned by the
build (a build or materialize replaces them), excluded from recommendations."""

ONLINE_INTERACTIONS_PREFIX = "multi_stage_recsys:online_interactions:"
"""Redis SET per user of the item ids recorded online by the gateway's POST /interactions. No
build, materialize or rollout deletes them; the filter excludes the union of both sets."""


def interactions_key(user_id: int) -> str:
    return f"{INTERACTIONS_PREFIX}{user_id}"


def online_interactions_key(user_id: int) -> str:
    return f"{ONLINE_INTERACTIONS_PREFIX}{user_id}"


ONLINE_BUILD_KEY = "multi_stage_recsys:build"
"""Which build's online state Redis holds (the build manifest's created_at)."""

BUILD_ID_PARAMETER = "build_id"
"""Parameter of the executor model's config.pbtxt naming the build it serves (= the manifest's
created_at): Redis must hold that build's state (ONLINE_BUILD_KEY) for the model to answer."""


RULES_KEY = "multi_stage_recsys:rules"
"""Redis hash of the business rules that replace the exported ones without an export: field
`rules` the JSON document (services/ensemble/rules.py), field `version` a counter raised by every
write (`python -m training rules set`). The model checks `version` once per pass; no key: the
exported rules apply."""
