"""``GET /metrics``: the service measured from outside, in Prometheus's text format.

What is counted where:

* each request, by method, route template and status, and its duration (``RequestIds`` calls
  ``observe`` once the answer is sent); database connections in use, by engine;
* at each scrape, from the database: the review queue, the control cases and webhook deliveries
  by status, the audit events waiting for their index in the log and the oldest one's wait,
  the versions and proofs stored.

Under ``python -m service serve`` every worker writes its counters to files in
``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder made by ``serve``) and the scrape, whichever worker
answers it, adds them up (``prometheus_client``'s multiprocess mode). In a single process
without that folder (tests, other servers), the process's own counters.

The endpoint answers only with ``Authorization: Bearer <SERVICE_METRICS_TOKEN>``; without a
token configured it does not exist (404).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from service.http.problems import HttpProblem
from service.http.server import MULTIPROCESS_ENV
from service.kit.db import Database
from service.models import utcnow

REQUESTS = Counter("esms_http_requests", "Requêtes servies, par méthode, route et statut.",
                   ["method", "route", "status"])
DURATION = Histogram("esms_http_request_duration_seconds", "Durée de service des requêtes, par méthode et route.",
                     ["method", "route"],
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
CONNECTIONS = Gauge("esms_db_connections_in_use", "Connexions à la base empruntées à leur pool, par moteur.",
                    ["engine"], multiprocess_mode="livesum")


def observe(method: str, route: str | None, status: int, seconds: float) -> None:
    """One request served: ``route`` is its template (``None``: matched no route)."""
    template = route or "(aucune)"
    REQUESTS.labels(method, template, str(status)).inc()
    DURATION.labels(method, template).observe(seconds)


def process_gone() -> None:
    """At a worker's shut-down: its gauges leave the sums (its counters stay counted)."""
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


def watch_pool(engine: Engine, name: str) -> None:
    """Count the connections of ``engine``'s pool in use, as ``esms_db_connections_in_use{engine=name}``."""
    gauge = CONNECTIONS.labels(name)
    event.listen(engine, "checkout", lambda *_: gauge.inc())
    event.listen(engine, "checkin", lambda *_: gauge.dec())


_QUEUES = sa.text("""
    SELECT
      (SELECT count(*) FROM submission WHERE awaiting_review) AS review,
      (SELECT count(*) FROM submission) AS versions,
      (SELECT count(*) FROM proof) AS proofs,
      (SELECT count(*) FROM audit_event WHERE log_index IS NULL) AS unsequenced,
      (SELECT min(occurred_at) FROM audit_event WHERE log_index IS NULL) AS oldest_unsequenced""")
_CASES = sa.text("SELECT status, count(*) FROM control_case GROUP BY status")
_DELIVERIES = sa.text("SELECT status, count(*) FROM webhook_delivery GROUP BY status")


class QueueCollector(Collector):
    """The queues and totals read from the database at each scrape (shared by every worker)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Any]:
        with self.database.engine.connect() as conn:
            row = conn.execute(_QUEUES).one()
            cases = conn.execute(_CASES).all()
            deliveries = conn.execute(_DELIVERIES).all()
        yield GaugeMetricFamily("esms_review_queue_versions", "Versions en attente d'une décision de l'ARS.",
                                value=row.review)
        case_family = GaugeMetricFamily("esms_control_cases", "Dossiers de contrôle, par état.", labels=["status"])
        for status, count in cases:
            case_family.add_metric([str(status)], count)
        yield case_family
        delivery_family = GaugeMetricFamily("esms_webhook_deliveries", "Livraisons de webhooks, par état.",
                                            labels=["status"])
        for status, count in deliveries:
            delivery_family.add_metric([str(status)], count)
        yield delivery_family
        yield GaugeMetricFamily("esms_log_unsequenced_events", "Événements d'audit en attente de leur rang dans le "
                                "journal vérifiable.", value=row.unsequenced)
        yield GaugeMetricFamily("esms_log_sequencer_lag_seconds", "Attente du plus ancien événement sans rang dans "
                                "le journal (0 s'il n'y en a pas).", value=_age(row.oldest_unsequenced))
        yield CounterMetricFamily("esms_versions", "Versions reçues et enregistrées (poussées acceptées).",
                                  value=row.versions)
        yield CounterMetricFamily("esms_proofs", "Preuves déposées et conservées.", value=row.proofs)


def _age(moment: Any) -> float:
    if moment is None:
        return 0.0
    if isinstance(moment, str):  # SQLite returns the text of a timestamp from an aggregate
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=utcnow().tzinfo)
    return max(0.0, (utcnow() - moment).total_seconds())


def exposition(database: Database) -> bytes:
    """Every metric, in the text format: the workers' counters added up, then the queues."""
    queues = CollectorRegistry()
    queues.register(QueueCollector(database))
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
        return generate_latest(workers) + generate_latest(queues)
    return generate_latest(REGISTRY) + generate_latest(queues)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    token: str | None = request.app.state.settings.metrics_token
    if not token:
        raise HttpProblem(404, "not_found", "Introuvable", "Aucune ressource à cette adresse.")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HttpProblem(401, "unauthenticated", "Authentification requise",
                          "Jeton des métriques attendu : Authorization: Bearer <SERVICE_METRICS_TOKEN>.",
                          headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = await run_in_threadpool(exposition, request.app.state.database)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
