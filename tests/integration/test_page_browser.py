"""The page in a real headless Chromium (Debian's package, driven by Playwright) against the
real stack (the session gateway, Triton and Redis): pick a known user, see ten items with their
attributes and the stages, post an interaction, see the item leave; an unknown user is flagged
as a fallback; the live panel shows figures. Saves docs/page.png (shown in the README)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, Gateway

pytestmark = pytest.mark.slow
SCREENSHOT = REPO_ROOT / "docs" / "page.png"
UNKNOWN_USER = 2_000_000_000
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is missing: `make browser` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(browser: Any, gateway: Gateway) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{gateway.url}/")
    yield page
    context.close()
    assert errors == [], f"the page's script failed: {errors}"


def rows(page: Any) -> list[dict[str, str]]:
    """The recommended items table: one dict of cell texts per row."""
    return page.eval_on_selector_all(
        "#items tbody tr",
        """rows => rows.map(row => ({
            item: row.dataset.itemId,
            category: row.querySelector('td.category').textContent,
            shop: row.querySelector('td.shop').textContent,
            brand: row.querySelector('td.brand').textContent,
            score: row.querySelector('td.score').textContent,
        }))""",
    )


def test_pick_a_known_user_click_an_item_and_see_it_leave(page: Any) -> None:
    page.wait_for_selector(".known-user")  # offered from GET /users/sample
    page.click(".known-user >> nth=2")
    page.wait_for_function("document.querySelectorAll('#items tbody tr').length === 10")
    shown = rows(page)
    assert len({row["item"] for row in shown}) == 10
    for row in shown:
        assert all(re.fullmatch(r"\d+", row[key]) for key in ("category", "shop", "brand")), row
    scores = [float(row["score"]) for row in shown]
    assert scores == sorted(scores, reverse=True)  # the final score, best first
    assert "fallback" not in page.inner_text("#summary")
    assert page.locator("#timings tbody tr").count() >= 8  # one row per stage
    assert page.locator("#past tbody tr").count() > 0
    assert page.locator("#sources table").count() == 2  # the tower and the second source
    assert page.locator("#ranking tbody tr").count() >= 10
    probabilities = page.eval_on_selector_all(
        "#ranking tbody td.probability", "cells => cells.map(cell => cell.textContent)"
    )
    assert all(0 < float(p) < 1 for p in probabilities)  # the DLRM's, beside each score
    parts = page.eval_on_selector_all(
        "#ranking tbody td.parts", "cells => cells.map(cell => cell.textContent)"
    )
    assert all(re.search(r"ranking [+-]\d", text) for text in parts), parts[:3]

    clicked = shown[0]["item"]
    page.click(f'#items tbody tr[data-item-id="{clicked}"] button.click-item')
    page.wait_for_function("document.querySelector('#message').textContent.includes('Recorded')")
    page.wait_for_function("document.querySelectorAll('#items tbody tr').length === 10")
    after = [row["item"] for row in rows(page)]
    assert clicked not in after
    assert clicked in page.eval_on_selector_all(
        "#past tbody tr", "rows => rows.map(row => row.dataset.itemId)"
    )

    # the live panel has counted these requests (it polls /stats every 2 s)
    page.wait_for_function("/^\\d+\\.\\d+$/.test(document.querySelector('#live-rps').textContent)")
    page.wait_for_function("document.querySelector('#live-p50').textContent.endsWith('ms')")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_unknown_user_is_flagged_as_fallback(page: Any) -> None:
    page.fill("#user-id", str(UNKNOWN_USER))
    page.click("#go")
    page.wait_for_function("document.querySelectorAll('#items tbody tr').length === 10")
    assert "fallback" in page.inner_text("#summary")
    assert page.get_attribute("#answer", "data-fallback") == "true"
    assert "not found" in page.inner_text("#features")
