"""Names shared by the offline build and the serving graph: features and the Triton contract."""

from __future__ import annotations

from collections.abc import Mapping

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
"""INT32 [n, k] catalogue item ids, best first; FP32 [n, k] their final scores;
BOOL [n] true where the user was unknown and popular items answered."""
ITEM_VECTOR = "item_vector"
"""The item tower's output (the build's `item_tower` SavedModel): one vector per item, in the
space of the query tower's; the model process embeds the items added at run time with it."""
EXPLAIN_INPUT = "explain"
"""Optional BOOL [n, 1]: true asks for EXPLAIN_OUTPUT too (a slower path, taken only then)."""
EXPLAIN_OUTPUT = "explanation"
"""BYTES [n, 1]: per user, a JSON document of what each stage found (explain.py); produced
only for requests whose EXPLAIN_INPUT is true."""

BUILD_ID_FIELD = "created_at"
"""The manifest field that is a build's id: the namespace of its Redis state (`build_prefix`),
the value of ONLINE_BUILD_KEY once it is materialized."""


def build_id_of(manifest: Mapping[str, object]) -> str:
    """A build's id, from its manifest (manifest.json's content)."""
    return str(manifest[BUILD_ID_FIELD])


KEY_PREFIX = "multi_stage_recsys"
"""Every Redis key of the system starts with it (Feast's keys end with `feast_project`)."""


def build_namespace(build_id: str) -> str:
    """A build's namespace in Redis: its id's letters and digits, lower case (Feast project
    names allow only [a-z0-9_]). Each build's online state lives under its own namespace, so
    a build, materialize or rollout never touches the state another served version reads."""
    token = "".join(ch for ch in build_id.lower() if ch.isascii() and ch.isalnum())
    if not token:
        raise ValueError(f"build id {build_id!r} has no letters or digits")
    return token


def build_prefix(build_id: str) -> str:
    """`multi_stage_recsys:<namespace>:`: the prefix of the build's own keys (not Feast's)."""
    return f"{KEY_PREFIX}:{build_namespace(build_id)}:"


def feast_project(build_id: str) -> str:
    """The build's Feast project: Feast's Redis keys end with the project name, so each build's
    feature hashes are keys of their own."""
    return f"{KEY_PREFIX}_{build_namespace(build_id)}"


def build_key(build_id: str) -> str:
    """The build's marker (value: the build id), written last when its state is complete: the
    model answers only while its build's marker is there."""
    return f"{build_prefix(build_id)}build"


BUILDS_KEY = f"{KEY_PREFIX}:builds"
"""Sorted set of the builds whose namespace Redis holds, scored by materialize time (unix s):
the rollout's garbage collection keeps the newest ones."""

ONLINE_INTERACTIONS_PREFIX = "multi_stage_recsys:online_interactions:"
"""Redis SET per user of the item ids recorded online by the gateway's POST /interactions. No
build, materialize or rollout deletes them; the filter excludes the union of both sets."""


def user_tag(user_id: int) -> str:
    """`{<user_id>}`: a Redis Cluster hash tag, so every set of one user lands in one slot (the
    model reads a user's build and online sets with one SUNION)."""
    return f"{{{user_id}}}"


def interactions_key(user_id: int, build_id: str) -> str:
    """Redis SET of the catalogue item ids `user_id` clicked in build `build_id`'s data: owned by
    that build's namespace, excluded from recommendations."""
    return f"{build_prefix(build_id)}interactions:{user_tag(user_id)}"


def shown_key(user_id: int, build_id: str) -> str:
    """Redis SET of the catalogue item ids shown to `user_id` in build `build_id`'s data and
    never clicked there: written only for builds whose filter removes them or whose item-item
    model reads them (the manifest's `ordering`)."""
    return f"{build_prefix(build_id)}shown:{user_tag(user_id)}"


def online_interactions_key(user_id: int) -> str:
    return f"{ONLINE_INTERACTIONS_PREFIX}{user_tag(user_id)}"


ONLINE_ORDER_PREFIX = "multi_stage_recsys:online_order:"
"""Redis LIST per user of the item ids added to their online set, oldest first: what the
gateway drops first when the set passes GATEWAY_ONLINE_ITEMS_MAX."""


def online_order_key(user_id: int) -> str:
    """Same hash tag as the user's online set: one slot, so one script updates both."""
    return f"{ONLINE_ORDER_PREFIX}{user_tag(user_id)}"


ATTRIBUTION_PREFIX = f"{KEY_PREFIX}:attribution:"
"""The gateway's click attribution: what sampled answers showed, and counters per A/B arm and
model version. Arm and version are labels without ':' (`2`, `all`, `latest`)."""


def impression_key(request_id: str) -> str:
    """Redis STRING, JSON `[user_id, arm, model_version, [item ids, best first]]`: what one
    sampled GET /recommend answer showed; expires after GATEWAY_ATTRIBUTION_TTL_S."""
    return f"{ATTRIBUTION_PREFIX}impression:{{{request_id}}}"


def clicked_key(request_id: str, item_id: int) -> str:
    """Set once (NX, the impression's TTL) when a click on `item_id` in that answer is counted:
    a repeated click is counted once."""
    return f"{ATTRIBUTION_PREFIX}clicked:{{{request_id}}}:{item_id}"


def arm_counts_key(arm: str, model_version: str) -> str:
    """Redis HASH of one (A/B arm, model version)'s counters, raised with HINCRBY only and never
    expiring: `requests` (answers), `recorded` (sampled answers), `impressions:<position>`,
    `clicks:<position>` (positions from 0)."""
    return f"{ATTRIBUTION_PREFIX}counts:{arm}:{model_version}"


ARMS_KEY = f"{ATTRIBUTION_PREFIX}arms"
"""Redis SET of the `<arm>:<model_version>` pairs that have counters (`arm_counts_key`)."""

UNATTRIBUTED_KEY = f"{ATTRIBUTION_PREFIX}unattributed"
"""Redis HASH: clicks posted with a request_id that no impression explains, by reason
(`unknown_request`: never recorded, sampled out or expired; `not_shown`; `other_user`)."""


ONLINE_BUILD_KEY = "multi_stage_recsys:build"
"""The build the served model version serves (a build id): set by `training materialize` and by
the rollout when it switches versions. Each version checks its own build's marker (`build_key`)."""

SERVED_VERSION_KEY = "multi_stage_recsys:served_version"
"""The executor model version the gateways name in requests without an A/B split (an integer):
written by the rollout's switch once the new version passed its checks (and by rollback). Unset:
the gateways name no version and Triton's highest READY version answers."""

BUILD_ID_PARAMETER = "build_id"
"""Parameter of the executor model's config.pbtxt once naming its build. A config is shared by
every loaded version (and changing it reloads them all), so exports leave it empty: a version's
build is in its folder's build.json (`BUILD_FILE`) and in its pickled graph."""

BUILD_FILE = "build.json"
"""In each version folder of the executor model: {"build_id": ..., "namespace": ...}."""


RULES_KEY = "multi_stage_recsys:rules"
"""Redis hash of the business rules that replace the exported ones without an export: field
`rules` the JSON document (services/ensemble/rules.py), field `version` a counter raised by every
write (`python -m training rules set`). The model checks `version` once per pass; no key: the
exported rules apply."""
STANDBY_MODEL_NAME = "standby_model"
"""The standby model: the executor's served build without TensorFlow (ensemble/standby.py)."""
FOLLOWS_PARAMETER = "follows"
"""The standby's config parameter naming the model whose served version it follows."""


ONLINE_CATALOGUE_TAG = "{online_catalogue}"
"""The hash tag of the online catalogue's keys: one Redis Cluster slot, so one MULTI writes a
record and its change log together."""

ONLINE_ITEMS_KEY = f"{KEY_PREFIX}:{ONLINE_CATALOGUE_TAG}:items"
"""Redis HASH: item id -> JSON record (`ItemRecord`) of the items added, changed or retired at run
time by the gateway's PUT / DELETE /items/{item_id}. Raw attributes, never encoded: every model
version encodes and embeds them with its own build's workflow and item tower, so a rollout keeps
them. No build, materialize or rollout deletes it."""

ONLINE_ITEM_CHANGES_KEY = f"{KEY_PREFIX}:{ONLINE_CATALOGUE_TAG}:item_changes"
"""Redis LIST of item ids, one per write to ONLINE_ITEMS_KEY, in write order (same MULTI): a
model process reads the entries past the last one it applied (LLEN once per pass)."""

ONLINE_USERS_KEY = f"{KEY_PREFIX}:{ONLINE_CATALOGUE_TAG}:users"
"""Redis HASH: user id -> JSON record (`UserRecord`) of the users added at run time by PUT
/users/{user_id}: read by the model for users its build does not know."""

ITEM_RECORD_FIELDS = ("attributes", "retired", "updated_at")
"""An item record: {"attributes": {ITEM_FEATURES -> int} or null (a build item retired without
new attributes), "retired": bool, "updated_at": ISO 8601 UTC}."""

USER_RECORD_FIELDS = ("attributes", "updated_at")
"""A user record: {"attributes": {USER_FEATURES -> int}, "updated_at": ISO 8601 UTC}."""
