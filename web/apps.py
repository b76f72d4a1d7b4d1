from django.apps import AppConfig


class WebConfig(AppConfig):
    """The browser pages: dashboard, ticker charts, pipeline and queues, and their live event stream."""

    name = "web"
    verbose_name = "StockHub pages"
