"""Screenshots of the pages for README.md (not a benchmark, not a test): the stack on a scratch database with
the demo data, Debian's chromium through Playwright, PNGs written to docs/screenshots/.

    .venv/bin/python bench/screenshots.py [--database-url postgres://postgres@127.0.0.1:5432/stockhub_screenshots]

The database is dropped and re-created, then filled by `seed_demo` (the demo user's portfolios and synthetic
bars) and analysed so the ticker page has indicators. The browser carries a session made for the demo user
(and one for the staff user for the pipeline and queues pages): no password, and no login-time refresh.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.api_load import WORK, Stack  # noqa: E402
from bench.report import ROOT, fresh_database, run_child  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
TICKER = "AAPL"
PAGES = [  # file, path, who looks at it
    ("dashboard.png", "/", "demo"),
    ("ticker.png", f"/tickers/{TICKER}/", "demo"),
    ("pipeline.png", "/pipeline/", "admin"),
    ("queues.png", "/queues/", "admin"),
]
MAX_PNG_BYTES = 300_000


def child() -> None:
    """Demo data, indicators for every ticker, and a session key per demo user; prints them as JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from analysis.services import analyze_tickers
    from ingest.models import Ticker
    from portfolios.services import seed_demo

    seed_demo(credentials_file=WORK / "demo_credentials.txt")
    ids = list(Ticker.objects.filter(bars__timeframe="daily").distinct().values_list("id", flat=True))
    analyze_tickers(ticker_ids=ids, timeframe="daily", full=True, workers=1)
    sessions = {}
    for username in ("demo", "admin"):
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        sessions[username] = client.cookies["sessionid"].value
    print(json.dumps(sessions))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/stockhub_screenshots")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child()
    from playwright.sync_api import sync_playwright

    fresh_database(args.database_url)
    WORK.mkdir(parents=True, exist_ok=True)
    sessions = run_child(__file__, [], args.database_url)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    stack = Stack(args.database_url)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            for file, path, username in PAGES:
                context = browser.new_context(viewport=VIEWPORT, base_url=stack.url)
                context.add_cookies([{"name": "sessionid", "value": sessions[username], "url": stack.url}])
                page = context.new_page()
                page.goto(path, wait_until="load")
                page.wait_for_timeout(1500)  # the charts and the live parts draw after the first events
                page.screenshot(path=str(OUT / file))
                context.close()
                size = (OUT / file).stat().st_size
                print(f"{file}: {size / 1000:.0f} KB{'  (over 300 KB!)' if size > MAX_PNG_BYTES else ''}")
            browser.close()
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
