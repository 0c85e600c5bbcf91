import numpy as np
import pytest

from training.evaluation import metrics


def test_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.3
    scores = np.round(rng.random(300), 1)  # many ties
    pos, neg = scores[labels], scores[~labels]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert metrics.auc(labels, scores) == pytest.approx(pairwise)


def test_auc_extremes() -> None:
    labels = np.array([0, 0, 1, 1])
    assert metrics.auc(labels, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert metrics.auc(labels, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert np.isnan(metrics.auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_logloss_of_perfect_and_uninformed_predictions() -> None:
    labels = np.array([0, 1, 1, 0])
    assert metrics.logloss(labels, labels.astype(float)) < 1e-6
    assert metrics.logloss(labels, np.full(4, 0.5)) == pytest.approx(np.log(2))


def test_ranks_recall_and_ndcg() -> None:
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.3, 0.8]])
    ranks = metrics.ranks_of_targets(scores, np.array([1, 0]))
    assert ranks.tolist() == [1, 2]
    assert metrics.recall_at(ranks, 2) == 0.5
    assert metrics.ndcg_at(ranks, 2) == pytest.approx(0.5 / np.log2(3))
