"""Synthetic Ali-CCP data in the raw schema: the generators by name.

Three generators (`GENERATORS`; `--synthetic NAME`):

* ``merlin``: Merlin's own ``generate_data("aliccp-raw", n)``, as in the reference notebooks.
  Its clicks are independent of users and items, so no model can learn from it (AUC ~0.5).
* ``planted`` (`training/data/synthetic.py`): clicks follow hidden user and item factors that
  the features partly reveal, so a correct pipeline provably learns. Ids are sparse 7-digit
  numbers, as in real logs.
* ``longtail``: a structurally different world (`training/data/synthetic_longtail.py`):
  denser, a long popularity tail, factors mostly hidden from the features, exposure by an
  earlier recommender.
* ``ratings``: a consumption log (`training/data/synthetic_ratings.py`): each row an item the
  user chose, once, a click when they liked it, as rating logs are; the valid split is each
  user's last choices.

The signal generators also return their `ClickTruth`: the true click probability of any pair.
"""

from __future__ import annotations

from collections.abc import Callable

from training.data import synthetic, synthetic_longtail, synthetic_ratings
from training.data.generator_common import SyntheticData


def generate(kind: str, rows: int, seed: int, valid_share: float = 0.3) -> SyntheticData:
    """KeyError for an unknown kind (see `GENERATORS`)."""
    return GENERATORS[kind](rows, seed, valid_share)


def _merlin(rows: int, seed: int, valid_share: float) -> SyntheticData:
    train, valid = synthetic.generate_merlin(rows, seed, valid_share)
    return SyntheticData(train, valid, None)


GENERATORS: dict[str, Callable[[int, int, float], SyntheticData]] = {
    "planted": synthetic.planted,
    "longtail": synthetic_longtail.generate,
    "ratings": synthetic_ratings.generate,
    "merlin": _merlin,
}
