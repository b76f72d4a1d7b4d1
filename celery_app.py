"""Builds the Celery app from Django settings and autodiscovers tasks; nothing else."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
# Celery's Django fixup runs Django's system checks when a worker starts; they load the URL conf, templates
# and the API schema views (~14 MB in every worker process, measured) to check the web side, which
# `manage.py migrate` checks once per release anyway. CELERY_SKIP_CHECKS= (empty) brings them back.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("stockhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
