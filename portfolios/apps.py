from django.apps import AppConfig


class PortfoliosConfig(AppConfig):
    name = "portfolios"

    def ready(self) -> None:
        from portfolios import signals  # noqa: F401  (connects the login hand-off)
