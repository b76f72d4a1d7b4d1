"""ASGI entry point (uvicorn serves it in `make up`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
# Under ASGI, Django runs each request's synchronous code on a thread of its own, so a connection kept for
# reuse is never reused: it stays open until the thread is collected, one more per request, and PostgreSQL
# soon refuses new ones ("too many clients", found by bench/api_load.py). The web process closes its
# connection after each request whatever DATABASE_CONN_MAX_AGE_SECONDS says; workers and commands keep theirs.
os.environ["DATABASE_CONN_MAX_AGE_SECONDS"] = "0"
application = get_asgi_application()

from ingest.warmup import warm_up_web_process  # noqa: E402  (needs the app registry set up above)

warm_up_web_process()
