"""ASGI entry point (uvicorn serves it in `make up`): async views (the pages' event stream) on Django's ASGI
handler, every other request on STOCKHUB_WEB_THREADS threads that keep their database connection
(stockhub/threaded_handler.py says why)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
get_asgi_application()  # django.setup()

from django.conf import settings  # noqa: E402  (after setup)

from ingest.warmup import warm_up_web_process  # noqa: E402  (needs the app registry set up above)
from stockhub.threaded_handler import (  # noqa: E402
    ConnectionClosingASGIHandler,
    ThreadedHandler,
    is_async_view,
    path_info,
)

async_views = ConnectionClosingASGIHandler()
sync_views = ThreadedHandler(threads=settings.STOCKHUB_WEB_THREADS)


async def application(scope, receive, send) -> None:
    if scope["type"] == "http" and not is_async_view(path_info(scope)):
        await sync_views(scope, receive, send)
    else:
        await async_views(scope, receive, send)  # and anything that is not HTTP, which Django refuses


warm_up_web_process()
# Everything loaded so far (Django, pandas, the exchange calendar: ~1M objects) lives as long as the process.
# Frozen, the cyclic collector's full passes skip it and walk only what requests left behind; unfrozen, each
# pass took 100-200 ms, holding the whole process, about every 2 s under load (bench/api_load.py).
gc.freeze()
