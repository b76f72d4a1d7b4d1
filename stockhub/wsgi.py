"""WSGI entry point."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
application = get_wsgi_application()

from ingest.warmup import warm_up_web_process  # noqa: E402  (needs the app registry set up above)

warm_up_web_process()
