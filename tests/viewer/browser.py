"""Drives the trace viewer in Chromium (Debian's, through Playwright's `executable_path`; no
browser download) and asserts what a user sees, through the DOM. Run by tests/viewer.rs:

    python browser.py furnish VIEWER.html SCREENSHOT_DIR
    python browser.py scale VIEWER.html SCREENSHOT_DIR    # prints {"first_paint_ms": ...}

Exits non-zero with the failed assertion on stderr.
"""
import json
import os
import sys
import time

from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("LLMOBS_TEST_CHROMIUM", "/usr/bin/chromium")
# As root, in a sandboxed CI, with nothing reaching out to the network. The page's own Content
# Security Policy stays on, so waits use locators (no string evaluation in the page).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]


def shot(page, out, name):
    page.screenshot(path=os.path.join(out, name + ".png"), full_page=False)


def furnish(page, out):
    """The Furnish Hub run (five traces) plus a file of hostile traces with errors."""
    rows = page.locator("#trace-list .trace-row")
    problems = page.locator("#problems").inner_text()
    assert "could not be read" in problems and "line 3" in problems, problems
    shot(page, out, "01-list")
    total = rows.count()
    assert total == 7, f"5 Furnish Hub traces and 2 hostile ones, got {total}"
    names = [n for n in rows.locator(".name").all_inner_texts()]
    assert sum("handle_message" in n for n in names) == 5, names

    # Hostile names and texts are text: nothing ran, and the markup shows literally.
    assert page.evaluate("window.__xss") is None, "a payload's script ran"
    body = page.locator("body").inner_text()
    assert "<img src=x onerror=" in body, "the hostile span name is shown as text"
    assert page.locator("#trace-list img").count() == 0

    # The trace with personal data: the sanitised text is shown, never the raw email.
    page.fill("#search", "FH-10021")
    expect(rows).to_have_count(1)
    rows.first.click()
    detail = page.locator("#detail-pane").inner_text()
    assert "[email]" in detail and "[phone]" in detail, detail
    assert "jane.doe@example.com" not in page.content(), "the raw email reached the page"
    shot(page, out, "02-redacted-trace")

    # The chat span: the messages by role and the token counts.
    page.locator("#tree-pane .span-row", has_text="chat").first.click()
    detail = page.locator("#detail-pane")
    assert detail.locator(".msg.user").count() >= 1, detail.inner_text()
    assert detail.locator(".msg.assistant").count() >= 1, detail.inner_text()
    assert "FH-10021" in detail.locator(".msg.user").first.inner_text()
    text = detail.inner_text()
    for metric in ("input_tokens", "output_tokens", "total_tokens"):
        assert metric in text, text
    assert detail.locator(".eval").count() == 0  # evaluations are joined to the root
    shot(page, out, "03-chat-span")

    # The root's evaluation is shown with its assessment.
    page.locator("#tree-pane .span-row").first.click()
    assert page.locator("#detail-pane .eval").count() == 1, page.locator("#detail-pane").inner_text()

    # The error filter: only the failing traces.
    page.fill("#search", "")
    page.check("#filter-error")
    expect(rows).to_have_count(2)
    for name in rows.locator(".name").all_inner_texts():
        assert "error" in name, name
    rows.filter(has_text="onerror").first.click()
    page.locator("#tree-pane .span-row", has_text="boom").first.click()
    err = page.locator("#detail-pane .error-box").inner_text()
    assert "ValueError" in err and "</b>" in err, err
    shot(page, out, "04-errors-only")

    # The session view: the five Furnish Hub turns as one conversation, in order.
    page.uncheck("#filter-error")
    page.click("#tab-sessions")
    page.locator(".session-row", has_text="session-").first.click()
    turns = page.locator(".session-view .turn")
    assert turns.count() == 5, turns.count()
    assert "Oslo sofa" in turns.first.inner_text()
    shot(page, out, "05-session")
    assert page.evaluate("window.__xss") is None


def scale(page, out):
    rows = page.locator("#trace-list .trace-row")
    assert rows.count() == 200, rows.count()  # the first page of the list
    page.fill("#search", "question 9999")
    expect(rows).to_have_count(1)
    shot(page, out, "10-scale")


def main():
    mode, viewer, out = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
    os.makedirs(out, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        started = time.monotonic()
        page.goto("file://" + viewer)
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        ready_ms = (time.monotonic() - started) * 1000
        assert not errors, errors
        {"furnish": furnish, "scale": scale}[mode](page, out)
        assert not errors, errors
        browser.close()
    print(json.dumps({"first_paint_ms": round(ready_ms)}))


if __name__ == "__main__":
    main()
