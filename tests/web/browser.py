"""Playwright helpers: Debian's Chromium (never a downloaded browser), screenshots, logging in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
def chromium_browser(
    *, locale: str = "de-CH", viewport: tuple[int, int] = (1440, 900), touch: bool = False
) -> Iterator[Callable[[], object]]:
    """One Chromium; the yielded function opens a page in a fresh context (its own cookies),
    so one test can be two people logged in at once."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        contexts: list[object] = []

        def new_page() -> object:
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]},
                locale=locale,
                timezone_id="Europe/Zurich",
                has_touch=touch,
                is_mobile=touch,
            )
            context.set_default_timeout(15_000)
            contexts.append(context)
            return context.new_page()

        try:
            yield new_page
        finally:
            for context in contexts:
                context.close()  # type: ignore[attr-defined]
            browser.close()


@contextmanager
def chromium_page(
    *, locale: str = "de-CH", viewport: tuple[int, int] = (1440, 900), touch: bool = False
) -> Iterator[object]:
    with chromium_browser(locale=locale, viewport=viewport, touch=touch) as new_page:
        yield new_page()


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


def watch_csp(page: object) -> list[str]:
    """Collects what the Content-Security-Policy blocks on ``page`` (Chromium logs each case)."""
    blocked: list[str] = []

    def on_console(message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        if "Content Security Policy" in text:
            blocked.append(text)

    page.on("console", on_console)  # type: ignore[attr-defined]
    return blocked


def open_settings(
    page: object, element_id: str, field: object, *, double_click: bool = False
) -> None:
    """Opens a builder element's settings and waits until they show ``field``.

    By default the element's ⚙ button is clicked: one click, nothing for a late re-render to
    split in two. ``double_click`` exercises the double-click instead. On a loaded machine the
    first attempt can land while the canvas still lays out; a dialog that opened without
    ``field`` (for another element) is closed with Escape and the opening is tried again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    backdrop = page.locator(".tf-modal-backdrop")  # type: ignore[attr-defined]
    node = page.locator(f'.react-flow__node[data-id="{element_id}"]')  # type: ignore[attr-defined]
    for _ in range(3):
        backdrop.wait_for(state="detached")
        if double_click:
            node.dblclick()
        else:
            node.locator(".tf-node-open").click()
        try:
            field.wait_for(timeout=5000)  # type: ignore[attr-defined]
            return
        except PlaywrightTimeout:
            if backdrop.count():
                page.keyboard.press("Escape")  # type: ignore[attr-defined]
    field.wait_for()  # type: ignore[attr-defined]
