# One image for every StockHub process; docker-compose.yml picks the command (web, a worker, beat, Flower).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# Requirements first, so a code change does not re-install every package.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected into the image; whitenoise serves them. Nothing is reached at build time: the
# URLs only have to be valid.
RUN DATABASE_URL=sqlite:////tmp/build.sqlite3 CELERY_BROKER_URL=redis://build:6379/0 REDIS_URL=redis://build:6379/1 \
        python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --create-home --uid 10001 stockhub \
    && mkdir -p var \
    && chown stockhub var

# Nothing here needs root (and Celery warns when a worker runs as root).
USER stockhub

EXPOSE 8000 5555
CMD ["uvicorn", "stockhub.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "off"]
