"""Webhooks: users' and staff's HTTP endpoints told about runs, tickers, patterns and queue alerts."""
