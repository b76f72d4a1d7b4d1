"""Builds the Celery app from Django settings and autodiscovers tasks; nothing else."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")

app = Celery("stockhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
