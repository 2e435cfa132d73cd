# Production image: the service on PostgreSQL, several workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    WEB_CONCURRENCY=2

WORKDIR /app
RUN useradd --system --create-home --home-dir /home/service service

COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install --disable-pip-version-check .

COPY alembic.ini ./
COPY migrations ./migrations

# Staging area of proof uploads (and the proof folder when SERVICE_STORAGE_BACKEND=local).
RUN mkdir -p /app/var/proofs && chown -R service /app/var
VOLUME /app/var

USER service
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
CMD ["sh", "-c", "alembic upgrade head && exec python -m service serve --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY}"]
