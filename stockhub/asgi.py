"""ASGI entry point (uvicorn serves it in `make up`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
application = get_asgi_application()

from ingest.warmup import warm_up_web_process  # noqa: E402  (needs the app registry set up above)

warm_up_web_process()
