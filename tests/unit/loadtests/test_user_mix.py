"""loadtests/user_mix.py: the user drawn for each request, request names, answer checks."""

from __future__ import annotations

import pytest

from loadtests.user_mix import (
    CASES,
    UNKNOWN_ID_RANGE,
    UserMix,
    case_code,
    check_answer,
    request_name,
    user_rng,
)


def test_requests_are_named_by_case_and_the_name_gives_the_case_back() -> None:
    assert request_name(False) == "/recommend [known]"
    assert request_name(True) == "/recommend [unknown]"
    assert [CASES[case_code(request_name(unknown))] for unknown in (False, True)] == list(CASES)


def test_the_mix_asks_for_unknown_ids_at_its_share_and_never_a_known_one() -> None:
    known = [UNKNOWN_ID_RANGE[0] + 1, 5, 6]  # a known id inside the unknown range too
    mix = UserMix(known, unknown_share=0.25)
    rng = user_rng(seed=3, instance=1)
    draws = [mix.next_user(rng) for _ in range(4000)]
    unknown = [user for user, is_unknown in draws if is_unknown]
    assert 0.2 < len(unknown) / len(draws) < 0.3
    assert all(UNKNOWN_ID_RANGE[0] <= user <= UNKNOWN_ID_RANGE[1] for user in unknown)
    assert not set(unknown) & set(known)
    assert {user for user, is_unknown in draws if not is_unknown} == set(known)


def test_the_same_seed_and_instance_draw_the_same_users() -> None:
    mix = UserMix(range(1000), unknown_share=0.5)
    first, second, other = user_rng(7, 2), user_rng(7, 2), user_rng(7, 3)
    run = [mix.next_user(first) for _ in range(50)]
    assert run == [mix.next_user(second) for _ in range(50)]
    assert run != [mix.next_user(other) for _ in range(50)]


def test_only_known_users_without_an_unknown_share() -> None:
    mix = UserMix([11, 12], unknown_share=0.0)
    rng = user_rng(0, 1)
    assert all(not unknown for _, unknown in (mix.next_user(rng) for _ in range(200)))


GOOD = {"user_id": 5, "items": [{"item_id": 1}], "fallback": False}


@pytest.mark.parametrize(
    ("body", "unknown", "problem"),
    [
        (GOOD, False, None),
        ({**GOOD, "fallback": True}, True, None),
        ([], False, "body is not a JSON object"),
        ({**GOOD, "user_id": 6}, False, "user_id 6 != 5"),
        ({**GOOD, "items": []}, False, "expected 1..2 items"),
        ({**GOOD, "items": [1, 2, 3]}, False, "expected 1..2 items"),
        (GOOD, True, "fallback is False for an unknown user"),
        ({**GOOD, "fallback": True}, False, "fallback is True for a known user"),
    ],
)
def test_an_answer_is_right_only_for_its_user_k_and_case(
    body: object, unknown: bool, problem: str | None
) -> None:
    found = check_answer(body, 5, unknown, k=2)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem), found
