"""`manage.py seed_demo`: demo users, portfolios, the dow30 universe and synthetic bars (idempotent)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from portfolios.services import seed_demo
from stockhub.config import VAR_DIR

CREDENTIALS_FILE = VAR_DIR / "demo_credentials.txt"


class Command(BaseCommand):
    help = (
        "Create demo users (passwords printed once, kept in var/demo_credentials.txt), portfolios and bars."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-bars", action="store_true", help="skip generating synthetic bars")

    def handle(self, *args, **options) -> None:
        logins = seed_demo(credentials_file=CREDENTIALS_FILE, bars=not options["no_bars"])
        for login in logins:
            role = "staff/admin" if login.staff else "user"
            if login.password:
                self.stdout.write(f"created {role} login: {login.username} / {login.password}")
            else:
                self.stdout.write(f"{role} login {login.username} exists (password in {CREDENTIALS_FILE})")
        self.stdout.write(
            f"demo data ready (database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]})"
        )
