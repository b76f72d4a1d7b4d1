"""Print a user's API token for scripts (Authorization: Token <key>), creating it when missing."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portfolios.services import issue_api_token


class Command(BaseCommand):
    help = (
        "Print USER's API token, creating it when missing; running it again prints the same token. "
        "--rotate replaces it (the old token stops working at once)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="replace the token with a new one")

    def handle(self, *args, username: str, rotate: bool, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}; create one with `manage.py createsuperuser` or admin")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; a token would be refused")
        token = issue_api_token(user=user, rotate=rotate)
        # only the key on stdout, so `TOKEN=$(manage.py create_token alice)` works; the rest on stderr
        self.stdout.write(token.key)
        self.stderr.write("new token" if token.created else "existing token (--rotate replaces it)")
