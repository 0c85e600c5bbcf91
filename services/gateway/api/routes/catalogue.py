"""PUT, DELETE and GET /items/{item_id}, PUT and GET /users/{user_id}: items and users added,
changed or retired at run time, without a build. Raw attributes go to Redis (the online
catalogue's keys in services/ensemble/contract.py); each model version encodes and embeds them
with its own build's workflow and item tower, from its next request on."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Response, status

from services.gateway.api.deps import (
    CatalogueStoreDep,
    MetricsDep,
    SettingsDep,
    limit_write_rate,
    require_api_key,
)
from services.gateway.api.errors import BODY_ERRORS, Problem, error_responses
from services.gateway.api.method_not_allowed import (
    allow_every_method_of_each_path,
    refuse_every_method,
)
from services.gateway.api.routes.interactions import unavailable
from services.gateway.core.catalogue_records import ItemState, UserState
from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.schemas import (
    INT32_MAX,
    INT32_MIN,
    ItemAttributes,
    ItemRecord,
    UserAttributes,
    UserRecord,
)

T = TypeVar("T")
STORE = "catalogue store"
ItemIdPath = Annotated[
    int, Path(ge=0, le=INT32_MAX, description="Catalogue item id (int32, not negative)")
]
UserIdPath = Annotated[
    int, Path(ge=INT32_MIN, le=INT32_MAX, description="Catalogue user id (int32)")
]

# the rate limit first, as on POST /interactions: guessing the key costs tokens too
WRITES = [Depends(limit_write_rate), Depends(require_api_key)]
READS = [Depends(require_api_key)]  # the attributes are private data too
UNAUTHORIZED = "API key missing or wrong (when GATEWAY_API_KEY is set)"
TOO_FAST = "this address sent writes faster than GATEWAY_WRITE_RATE_PER_S; see Retry-After"
REDIS_DOWN = "Redis unreachable; see Retry-After"
BAD_ID = "the id in the path not an int32"

router = APIRouter()
# GET /users/sample is page.py's, whose router comes first: any other method on that path is 405
# here, before /users/{user_id} would take `sample` for an id
refuse_every_method(router, "/users/sample", "GET")


def _put_responses(model: type[Any], what: str) -> dict[int | str, dict[str, Any]]:
    """201 (the default) and 200 both succeed; then every error a PUT answers."""
    errors = {**BODY_ERRORS, 401: UNAUTHORIZED, 422: f"{BAD_ID}, or the body invalid"}
    return {
        200: {"model": model, "description": f"{what} replaced"},
        **error_responses({**errors, 429: TOO_FAST, 503: REDIS_DOWN}),
    }


@router.put(
    "/items/{item_id}",
    status_code=status.HTTP_201_CREATED,
    response_description="The item's record added: the online catalogue did not hold it",
    response_model=ItemRecord,
    response_model_exclude_unset=True,  # `created` on PUT answers only
    dependencies=WRITES,
    responses=_put_responses(ItemRecord, "The item's record"),
)
async def put_item(
    item_id: ItemIdPath,
    attributes: ItemAttributes,
    response: Response,
    store: CatalogueStoreDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> ItemRecord:
    """Add the item, or replace its attributes (an item of the build too; a retired item is
    taken back): each model version encodes and embeds it from its next request on, and may
    recommend it. 201 when the online catalogue did not hold the item, else 200."""
    record, created = await _stored(store.put_item(item_id, attributes.model_dump()), settings)
    _count_put(response, metrics, "item", created)
    return _item(item_id, record, created=created)


@router.delete(
    "/items/{item_id}",
    response_model=ItemRecord,
    response_model_exclude_unset=True,
    dependencies=WRITES,
    responses=error_responses({401: UNAUTHORIZED, 422: BAD_ID, 429: TOO_FAST, 503: REDIS_DOWN}),
)
async def retire_item(
    item_id: ItemIdPath, store: CatalogueStoreDep, settings: SettingsDep, metrics: MetricsDep
) -> ItemRecord:
    """Retire the item (one added online or one of the build): no model version recommends it
    from its next request on. Its attributes are kept (null for an item only the build has);
    PUT takes it back. Idempotent: retiring a retired item changes nothing."""
    record, _ = await _stored(store.retire_item(item_id), settings)
    metrics.catalogue_writes.labels("item_retired").inc()
    return _item(item_id, record)


@router.get(
    "/items/{item_id}",
    response_model=ItemRecord,
    response_model_exclude_unset=True,
    dependencies=READS,
    responses=error_responses(
        {
            401: UNAUTHORIZED,
            404: "the item was never added online (the build's items are listed in the "
            "build, not here), or it was retired",
            422: BAD_ID,
            503: REDIS_DOWN,
        }
    ),
)
async def get_item(
    item_id: ItemIdPath, store: CatalogueStoreDep, settings: SettingsDep
) -> ItemRecord:
    """The item's online record: what PUT wrote. 404 for items of the build never changed
    online (they have none) and for retired items (DELETE's answer shows their record)."""
    record = await _stored(store.get_item(item_id), settings)
    if record is None:
        raise Problem(status.HTTP_404_NOT_FOUND, f"item {item_id} was not added or retired online")
    if record.retired:  # deleted: gone, as a client of DELETE expects (DELETE shows the record)
        raise Problem(
            status.HTTP_404_NOT_FOUND,
            f"item {item_id} was retired online at {record.updated_at}; PUT takes it back",
        )
    return _item(item_id, record)


@router.put(
    "/users/{user_id}",
    status_code=status.HTTP_201_CREATED,
    response_description="The user's record added: the online catalogue did not hold it",
    response_model=UserRecord,
    response_model_exclude_unset=True,
    dependencies=WRITES,
    responses=_put_responses(UserRecord, "The user's record"),
)
async def put_user(
    user_id: UserIdPath,
    attributes: UserAttributes,
    response: Response,
    store: CatalogueStoreDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> UserRecord:
    """Add the user, or replace their attributes: the model takes the features of a user its
    build does not know from here, from its next request on. 201 when the online catalogue did
    not hold the user, else 200."""
    record, created = await _stored(store.put_user(user_id, attributes.model_dump()), settings)
    _count_put(response, metrics, "user", created)
    return _user(user_id, record, created=created)


@router.get(
    "/users/{user_id}",
    response_model=UserRecord,
    response_model_exclude_unset=True,
    dependencies=READS,
    responses=error_responses(
        {
            401: UNAUTHORIZED,
            404: "the user was never added online (the build's users are in the build)",
            422: BAD_ID,
            503: REDIS_DOWN,
        }
    ),
)
async def get_user(
    user_id: UserIdPath, store: CatalogueStoreDep, settings: SettingsDep
) -> UserRecord:
    """The user's online record: what PUT wrote."""
    record = await _stored(store.get_user(user_id), settings)
    if record is None:
        raise Problem(status.HTTP_404_NOT_FOUND, f"user {user_id} was not added online")
    return _user(user_id, record)


async def _stored(write: Awaitable[T], settings: Settings) -> T:
    """`write`'s result; a 503 with Retry-After when Redis cannot answer."""
    try:
        return await write
    except OnlineStoreUnavailable as exc:
        raise unavailable(settings, exc, STORE) from exc


def _count_put(response: Response, metrics: Metrics, kind: str, created: bool) -> None:
    """200 for a replaced record (201 is the route's default), and the write counted."""
    if not created:
        response.status_code = status.HTTP_200_OK
    metrics.catalogue_writes.labels(f"{kind}_added" if created else f"{kind}_replaced").inc()


def _item(item_id: int, record: ItemState, **created: bool) -> ItemRecord:
    attributes = None if record.attributes is None else ItemAttributes(**record.attributes)
    return ItemRecord(
        item_id=item_id,
        attributes=attributes,
        retired=record.retired,
        updated_at=record.updated_at,
        **created,
    )


def _user(user_id: int, record: UserState, **created: bool) -> UserRecord:
    attributes = UserAttributes(**record.attributes)
    return UserRecord(
        user_id=user_id, attributes=attributes, updated_at=record.updated_at, **created
    )


allow_every_method_of_each_path(router)
