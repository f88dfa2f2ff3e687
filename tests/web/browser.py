"""Playwright helpers: Debian's Chromium (never a downloaded browser), screenshots, logging in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@contextmanager
def chromium_page(
    *, locale: str = "de-CH", viewport: tuple[int, int] = (1440, 900), touch: bool = False
) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            locale=locale,
            timezone_id="Europe/Zurich",
            has_touch=touch,
            is_mobile=touch,
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()


def shot(page: object, name: str, *, full_page: bool = True) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]
    return path


def log_in(page: object, base_url: str, email: str, password: str) -> None:
    page.goto(base_url + "/login/")  # type: ignore[attr-defined]
    page.fill("input[name=email]", email)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("button[type=submit].primary")  # type: ignore[attr-defined]
    page.wait_for_url(base_url + "/")  # type: ignore[attr-defined]


def overflow(page: object) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(
        page.evaluate(  # type: ignore[attr-defined]
            "document.scrollingElement.scrollWidth - window.innerWidth"
        )
    )
