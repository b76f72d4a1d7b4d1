"""StockHub: keeps stock-market data fresh through prioritised Celery queues."""
