"""Response bodies of the public API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.gateway.core.attribution import ClickStatus
from services.gateway.schemas_page import Explanation

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _integral(value: object) -> object:
    """JSON Schema's integer: 5.0 is one (JSON does not tell it from 5); 5.5, "5", true are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInteger = Annotated[int, BeforeValidator(_integral)]
"""An integer as JSON Schema (and so the OpenAPI document) defines it, otherwise strict."""


class RecommendedItem(BaseModel):
    item_id: int = Field(description="Catalogue item id")
    score: float = Field(
        description="The final score the answer is ordered by: the build's weighted sum of the "
        "stages' scores, each standardized over the user's candidates (explain=true shows the "
        "parts); 0 for fallback answers"
    )


class Recommendation(BaseModel):
    user_id: int
    items: list[RecommendedItem] = Field(description="Best first")
    fallback: bool = Field(
        description="True when the user is unknown and the most popular items answered"
    )
    standby: bool = Field(
        default=False,
        description="True when the executor could not answer in time and the standby model "
        "did: the item-item model and popular items, without the Two-Tower and the DLRM",
    )
    model: str = Field(description="Triton model that answered")
    model_version: int | None = Field(
        description="Version of the model that answered (fallback answers too): the A/B "
        "split's version for this user, else Triton's latest; null if Triton named none"
    )
    request_id: str = Field(description="Also sent as the X-Request-ID header")
    explain: Explanation | None = Field(
        default=None, description="Only with explain=true: what each stage found and did"
    )


class ProblemBody(BaseModel):
    detail: str = Field(description="What went wrong, without internal addresses")
    request_id: str | None = Field(
        default=None, description="On 5xx answers: quote it to find the details in the log"
    )


class ValidationProblem(BaseModel):
    """422: the request's parameters or body did not validate."""

    detail: str = Field(description="Every problem, one sentence each, joined by '; '")
    errors: list[str] = Field(
        description="The same sentences, one per problem (at most 10, then a count of the rest)"
    )


class Health(BaseModel):
    status: str


class ReplicaReadiness(BaseModel):
    replica: int = Field(description="The Triton replica's index in GATEWAY_TRITON_URL")
    state: str = Field(description="ready, model not ready, unreachable, or no answer within N s")


class Readiness(Health):
    problems: list[str] = Field(
        default_factory=list, description="The failed checks, one phrase each (empty if ready)"
    )
    replicas: list[ReplicaReadiness] = Field(
        default_factory=list, description="Each Triton replica's state (ready if one is ready)"
    )


class Interaction(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: JsonInteger = Field(ge=INT32_MIN, le=INT32_MAX, description="Catalogue user id")
    item_id: JsonInteger = Field(ge=0, le=INT32_MAX, description="Catalogue item id")
    request_id: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{32}$",
        description="The `request_id` of the /recommend answer the item was clicked in: the "
        "click is then attributed to that answer's A/B arm, model version and position",
    )


class ClickAttribution(BaseModel):
    status: ClickStatus = Field(
        description="attributed: counted for the answer's arm and version; repeat: this click "
        "on this answer was counted before; unknown_request: no recorded answer has this id "
        "(never given, not sampled, or expired); not_shown: the item was not in that answer; "
        "other_user: the answer was another user's. All but repeat count as unattributed"
    )
    arm: str | None = Field(
        default=None, description="The A/B arm (GATEWAY_AB's version for the user, or `all`)"
    )
    model_version: str | None = Field(default=None, description="The version that answered")
    position: int | None = Field(default=None, description="The item's position, 0 = first")


class InteractionRecorded(Interaction):
    new: bool = Field(description="False if the interaction was already recorded")
    attribution: ClickAttribution | None = Field(
        default=None, description="Only when request_id was sent"
    )


Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX), BeforeValidator(_integral)]
"""JsonInteger within int32 (Field first: its bounds reach the JSON schema)."""


class ItemAttributes(BaseModel):
    """An item's raw attributes, as in the catalogue's data (ITEM_FEATURES): stored as sent, and
    encoded by each model version with its own build's workflow."""

    model_config = ConfigDict(extra="forbid", strict=True)

    item_category: Int32
    item_shop: Int32
    item_brand: Int32


class UserAttributes(BaseModel):
    """A user's raw attributes, as in the catalogue's data (USER_FEATURES): stored as sent, and
    encoded by each model version with its own build's workflow."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_shops: Int32
    user_profile: Int32
    user_group: Int32
    user_gender: Int32
    user_age: Int32
    user_consumption_2: Int32
    user_is_occupied: Int32
    user_geography: Int32
    user_intentions: Int32
    user_brands: Int32
    user_categories: Int32


UPDATED_AT = "When the record was last written: ISO 8601, UTC"
CREATED = "PUT only: true when the online catalogue did not hold it before (201), else false"


class ItemRecord(BaseModel):
    item_id: int = Field(description="Catalogue item id")
    attributes: ItemAttributes | None = Field(
        description="The raw attributes; null for an item of the build retired without new ones"
    )
    retired: bool = Field(description="True after DELETE: recommended no more, until a PUT")
    updated_at: str = Field(description=UPDATED_AT)
    created: bool | None = Field(default=None, description=CREATED)


class UserRecord(BaseModel):
    user_id: int = Field(description="Catalogue user id")
    attributes: UserAttributes
    updated_at: str = Field(description=UPDATED_AT)
    created: bool | None = Field(default=None, description=CREATED)
