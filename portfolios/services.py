"""Portfolio writes: portfolios and their holdings, API tokens, the login hand-off and the demo data set.
Each write is one transaction: a refused change leaves nothing behind (not even a new ticker row)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from ingest.errors import InvalidInput
from ingest.models import Ticker, Timeframe, normalize_symbol
from ingest.validation import SYMBOL_PATTERN
from portfolios.errors import PortfolioError, PortfolioErrorCode
from portfolios.models import Holding, Portfolio
from portfolios.selectors import held_tickers
from stockhub.queues import Reason

logger = logging.getLogger(__name__)

DEMO_PORTFOLIOS = {
    "Tech": [("AAPL", "15"), ("MSFT", "10"), ("NVDA", "20"), ("AMZN", "8")],
    "Dividends": [("KO", "40"), ("JNJ", "12"), ("PG", "15"), ("JPM", "10")],
}
DEMO_DAILY_DAYS = 730
DEMO_HOURLY_DAYS = 30


def refresh_on_login(*, user, now=None) -> list[int]:
    """Queue a foreground fetch for each stale (ticker, timeframe) the user holds; returns the job ids.

    Never waits on the broker: jobs are recorded, and a message that cannot be sent waits for the reconciler.
    """
    from ingest.selectors import stale_pairs
    from ingest.services.refresh import request_refresh

    now = now or timezone.now()
    tickers = {ticker.id: ticker for ticker in held_tickers(user=user)}
    pairs = stale_pairs(ticker_ids=list(tickers), timeframes=settings.STOCKHUB_LOGIN_TIMEFRAMES, now=now)
    result = request_refresh(
        pairs=[(tickers[ticker_id], timeframe) for ticker_id, timeframe in pairs],
        reason=Reason.USER_LOGIN,
        requested_by=user,
    )
    job_ids = result.job_ids
    logger.info(
        "login user=%s holds %s tickers, %s stale: jobs %s", user.pk, len(tickers), len(pairs), job_ids
    )
    return job_ids


def checked_symbol(raw: str) -> str:
    """`raw` normalised (upper case, BRK-B -> BRK.B); InvalidInput unless it is 1-10 of A-Z 0-9 . - ^ with at
    least one letter or digit (so "..", "^" or a path never become a ticker)."""
    symbol = normalize_symbol(raw)
    if not SYMBOL_PATTERN.match(symbol) or not any(c.isalnum() for c in symbol):
        shown = raw if len(raw) <= 24 else f"{raw[:24]}..."
        raise InvalidInput(
            f"not a valid symbol: {shown!r} (1-10 of A-Z 0-9 . - ^ with a letter or digit, e.g. AAPL, BRK.B, ^GSPC)"
        )
    return symbol


def create_portfolio(*, owner, name: str) -> Portfolio:
    """A new, empty portfolio of `owner`; a second one of the same name is refused (NAME_TAKEN)."""
    try:
        with transaction.atomic():
            portfolio = Portfolio.objects.create(owner=owner, name=name)
    except IntegrityError:
        raise _name_taken(name) from None
    logger.info("portfolio=%s created by user=%s", portfolio.id, owner.pk)
    return portfolio


def rename_portfolio(*, portfolio: Portfolio, name: str) -> Portfolio:
    """Rename `portfolio`; a name the owner already uses for another one is refused (NAME_TAKEN)."""
    portfolio.name = name
    try:
        with transaction.atomic():
            portfolio.save(update_fields=["name"])
    except IntegrityError:
        raise _name_taken(name) from None
    return portfolio


def _name_taken(name: str) -> PortfolioError:
    return PortfolioError(f"you already have a portfolio named {name!r}", code=PortfolioErrorCode.NAME_TAKEN)


def delete_portfolio(*, portfolio: Portfolio) -> None:
    """Delete `portfolio` and its holdings (the tickers stay)."""
    with transaction.atomic():
        portfolio.delete()


def add_holding(
    *, portfolio: Portfolio, symbol: str, quantity: Decimal, cost_basis: Decimal | None = None
) -> Holding:
    """Hold `quantity` of `symbol` in `portfolio` (creating the ticker if new); repeating it sets, not adds."""
    symbol = checked_symbol(symbol)
    with transaction.atomic():
        ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
        holding, _ = Holding.objects.update_or_create(
            portfolio=portfolio, ticker=ticker, defaults={"quantity": quantity, "cost_basis": cost_basis}
        )
    return holding


def remove_holding(*, portfolio: Portfolio, symbol: str) -> None:
    """Stop holding `symbol` in `portfolio` (the ticker stays); NOT_HELD when it is not there."""
    symbol = checked_symbol(symbol)
    with transaction.atomic():
        deleted, _ = Holding.objects.filter(portfolio=portfolio, ticker__symbol=symbol).delete()
    if not deleted:
        raise PortfolioError(
            f"portfolio {portfolio.id} does not hold {symbol}", code=PortfolioErrorCode.NOT_HELD
        )


@dataclass(frozen=True)
class ApiToken:
    key: str
    created: bool  # False: the user's existing token, unchanged


def issue_api_token(*, user, rotate: bool = False) -> ApiToken:
    """`user`'s API token, created when missing; running it again returns the same one. With `rotate` the old
    token is replaced (it stops working at once)."""
    with transaction.atomic():
        if rotate:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
    if created:
        logger.info("api token %s for user=%s", "rotated" if rotate else "created", user.pk)
    return ApiToken(key=token.key, created=created)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str | None  # None when the user already existed: its password was left as it was
    staff: bool


def seed_demo(*, credentials_file: Path, bars: bool = True) -> list[DemoLogin]:
    """Demo users, portfolios, the dow30 universe and synthetic bars. Running it again changes nothing."""
    from ingest.services import fetch_and_store
    from ingest.services.universes import load_shipped_universe

    with transaction.atomic():
        logins = [_demo_user("demo", staff=False), _demo_user("admin", staff=True)]
        demo = get_user_model().objects.get(username="demo")
        for name, holdings in DEMO_PORTFOLIOS.items():
            portfolio, _ = Portfolio.objects.get_or_create(owner=demo, name=name)
            for symbol, quantity in holdings:
                add_holding(portfolio=portfolio, symbol=symbol, quantity=Decimal(quantity))
        load_shipped_universe(slug="dow30")
    new_logins = [login for login in logins if login.password]
    if new_logins:
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        with credentials_file.open("a") as handle:
            handle.writelines(f"{login.username} {login.password}\n" for login in new_logins)
        credentials_file.chmod(0o600)
    if bars:
        end = timezone.now()
        held = set(
            Ticker.objects.filter(holdings__portfolio__owner__username="demo").values_list("id", flat=True)
        )
        for ticker in Ticker.objects.filter(universes__slug="dow30") | Ticker.objects.filter(id__in=held):
            fetch_and_store(
                ticker=ticker,
                timeframe=Timeframe.DAILY,
                start=end - timedelta(days=DEMO_DAILY_DAYS),
                end=end,
                provider_name="synthetic",
            )
            if ticker.id in held:
                fetch_and_store(
                    ticker=ticker,
                    timeframe=Timeframe.HOURLY,
                    start=end - timedelta(days=DEMO_HOURLY_DAYS),
                    end=end,
                    provider_name="synthetic",
                )
    return logins


def _demo_user(username: str, *, staff: bool) -> DemoLogin:
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        return DemoLogin(username, None, staff)
    password = secrets.token_urlsafe(9)
    if staff:
        user_model.objects.create_superuser(
            username=username, password=password, email=f"{username}@example.com"
        )
    else:
        user_model.objects.create_user(username=username, password=password, email=f"{username}@example.com")
    logger.info("created demo user=%s staff=%s", username, staff)
    return DemoLogin(username, password, staff)
