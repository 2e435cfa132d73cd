"""The ASGI application: ``service.main:app``, built by ``create_app()``."""

from __future__ import annotations

import functools
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from service.access import routes as access_routes
from service.access.authentication import KeyAuthenticator
from service.access.keys import PrincipalCache
from service.audit import routes as audit_routes
from service.console.pages import install_console
from service.console.proconnect import Provider
from service.control import routes as control_routes
from service.control.use_cases import announce_overdue, refresh_closure_reasons
from service.evidence import routes as evidence_routes
from service.exports import routes as exports_routes
from service.funding_requests import routes as funding_requests_routes
from service.http import health as health_routes
from service.http import metrics
from service.http.limits import FairShare
from service.http.problems import install_problem_handlers
from service.http.request_ids import RequestIds
from service.http.routing import HeadAsGet
from service.http.server import BodyDeadline, watch_supervisor
from service.kit import logs
from service.kit.cache import BoundedCache
from service.kit.db import Database
from service.kit.mailing import Mailing
from service.kit.offload import Offload
from service.kit.rate_limits import limiter_for
from service.kit.settings import Settings, get_settings
from service.kit.storage import open_store
from service.log import routes as log_routes
from service.log.keys import LogSigner
from service.log.sequencer import Sequencer
from service.notifications import events as tell
from service.notifications import routes as notifications_routes
from service.notifications import sending as mail_sending
from service.obligations import routes as obligations_routes
from service.organisations import routes as organisations_routes
from service.proofs import routes as proofs_routes
from service.registry import routes as registry_routes
from service.reports import routes as reports_routes
from service.reports.signing import ReportSigner
from service.review import routes as review_routes
from service.statistics import routes as statistics_routes
from service.submissions import routes as submissions_routes
from service.submissions.schemas import SubmissionCreate
from service.submissions.use_cases import PushCache
from service.target_sets import routes as target_sets_routes
from service.webhooks import routes as webhooks_routes
from service.webhooks.deliverer import Deliverer
from service.webhooks.supervisor import DelivererProcess

#: Identifiers stay ASCII (a generated client makes packages and modules of them); what people
#: read is French, in the descriptions.
TITLE = "Indicateurs d'usage DUI"
TAGS = [
    {"name": "demandes-de-financement", "description": "Demandes de financement (GALIS), leurs établissements et "
                                                       "leurs jalons."},
    {"name": "remontees", "description": "Remontées des données d'usage : versions d'une déclaration."},
    {"name": "preuves", "description": "Preuves d'usage : dépôt et lecture des fichiers signés."},
    {"name": "exports", "description": "Exports au format du modèle CNSA (xlsx) et en CSV."},
    {"name": "examen-ars", "description": "Examen des versions par l'ARS et état d'une demande."},
    {"name": "controle-cnsa", "description": "Contrôle de la CNSA : file par risque, demandes de preuve (48 h), "
                                             "conclusions."},
    {"name": "journal-audit", "description": "Journal d'audit : chaque changement, qui, quand, quoi."},
    {"name": "journal-verifiable", "description": "Journal vérifiable : points de contrôle signés, clé publique, "
                                                  "preuves d'inclusion et de cohérence (RFC 9162)."},
    {"name": "dossiers-de-preuve", "description": "Dossiers de preuve (sacs BagIt), chaîne de garde des preuves, "
                                                  "fil des versions modifiées pour les auditeurs."},
    {"name": "referentiel", "description": "Référentiel FINESS : import de l'extrait public, établissements."},
    {"name": "cibles", "description": "Jeux de cibles des indicateurs, par campagne et catégorie FINESS."},
    {"name": "organisations", "description": "Qui agit : organisations (porteurs, éditeurs, ARS, CNSA, "
                                             "administration), leurs personnes et les mandats des porteurs aux "
                                             "éditeurs."},
    {"name": "statistiques", "description": "Statistiques comparées : chaque établissement face à ses pairs."},
    {"name": "syntheses-signees", "description": "Synthèses PDF signées des versions et leur vérification."},
    {"name": "webhooks", "description": "Webhooks (Standard Webhooks 1.0) : abonnements, journal des livraisons, "
                                        "nouvel envoi."},
    {"name": "cles-api", "description": "Clés d'API des organisations, et qui appelle (/v1/me)."},
    {"name": "messages", "description": "Fil des messages de chaque demande, courriels envoyés par le service, "
                                        "préférences de messages de chaque personne."},
    {"name": "exploitation", "description": "État du service."},
]

DESCRIPTION = """\
API du service des indicateurs d'usage du programme **ESMS Numérique** : déclaration des
données d'usage du Dossier Usager Informatisé (DUI) par établissement, contrôle des règles
de la CNSA, calcul des taux face aux cibles, versions immuables.

Authentification : `Authorization: Bearer <clé d'API>` sur toutes les routes `/v1`.
Erreurs : `application/problem+json` (RFC 9457) avec un `code` stable et, pour les données
invalides, la liste `errors` de chaque erreur avec sa ligne, sa colonne (A–L) et son champ.
"""


def deliverer_for(database: Database, settings: Settings) -> Deliverer:
    """The deliverer of the outboxes: webhooks, with the events time alone brings, and mails."""
    mailing = Mailing.from_settings(settings)
    return Deliverer(database, settings,
                     timed_events=[functools.partial(announce_overdue, mailing=mailing),
                                   functools.partial(tell.remind_proof_requests, mailing=mailing),
                                   functools.partial(tell.remind_fin_projet, mailing=mailing),
                                   functools.partial(tell.tell_versions_awaiting, mailing=mailing),
                                   functools.partial(tell.queue_digests, mailing=mailing)],
                     jobs=[functools.partial(mail_sending.send_due, database, settings)])


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings)
        app.state.database = database
        watch_supervisor()  # a worker of `python -m service serve --workers N` stops with its supervisor
        if settings.metrics_token:
            metrics.watch_pool(database.engine, "read")
            metrics.watch_pool(database.write_engine, "write")
        app.state.authenticate = KeyAuthenticator(database, app.state.principal_cache)
        app.state.proof_store = open_store(settings)
        app.state.limiter = limiter_for(settings.rate_limit_rates, database.engine)
        app.state.report_signer = ReportSigner.from_settings(settings)
        app.state.log_signer = LogSigner.from_settings(settings)
        app.state.sequencer = Sequencer(database, app.state.log_signer, origin=settings.log_origin,
                                        interval=settings.log_sequence_interval_ms / 1000,
                                        tsa_url=settings.tsa_url, tsa_interval=settings.tsa_interval_s).start()
        app.state.deliverer = deliverer_for(database, settings)
        app.state.deliverer_process = None
        if settings.webhooks_deliverer == "thread":
            app.state.deliverer.start()
        elif settings.webhooks_deliverer == "process":
            app.state.deliverer_process = DelivererProcess(settings).start()
        app.state.proconnect = Provider(settings) if settings.oidc_issuer else None
        _tune_garbage_collector()
        try:
            yield
        finally:
            if app.state.proconnect is not None:
                await app.state.proconnect.aclose()
            if app.state.deliverer_process is not None:
                app.state.deliverer_process.stop()
            app.state.deliverer.stop()
            app.state.sequencer.stop()
            app.state.offload.close()
            database.close()
            metrics.process_gone()

    app = FastAPI(
        title=TITLE,
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.principal_cache = PrincipalCache(settings.api_key_cache_seconds)
    app.state.push_cache = PushCache()
    #: The registry's imports refresh the control queue's closure reasons through this.
    app.state.closures_changed = refresh_closure_reasons
    app.state.report_cache = BoundedCache(settings.report_cache_size)
    app.state.offload = Offload(settings.offload_workers, settings.offload_timeout_seconds)
    install_problem_handlers(app)
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyDeadline, seconds=settings.body_timeout_seconds)
    app.add_middleware(FairShare, per_caller=settings.requests_per_caller)
    # outermost: every answer carries its id, every request its log line (and its count, with /metrics)
    app.add_middleware(RequestIds, measured=bool(settings.metrics_token))
    logs.configure(settings.log_format)
    app.include_router(health_routes.router)
    app.include_router(metrics.router)
    app.include_router(funding_requests_routes.router)
    app.include_router(exports_routes.router)  # before submissions: /v1/submissions/{id}.xlsx
    app.include_router(submissions_routes.router)
    app.include_router(proofs_routes.router)
    app.include_router(review_routes.router)
    app.include_router(control_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(reports_routes.router)
    app.include_router(access_routes.router)
    app.include_router(organisations_routes.router)
    app.include_router(log_routes.router)
    app.include_router(evidence_routes.router)
    app.include_router(registry_routes.router)
    app.include_router(target_sets_routes.router)
    app.include_router(statistics_routes.router)
    app.include_router(obligations_routes.router)
    app.include_router(webhooks_routes.router)
    app.include_router(notifications_routes.router)
    install_console(app)
    _document_push_body(app)
    return app


def _tune_garbage_collector() -> None:
    """Keep the cyclic collector off the objects loaded at start, and let young objects pile up
    longer before a collection: a 30 000-row declaration allocates millions of objects, which
    the default thresholds traverse again and again (about half the time of the rate
    computation, measured by ``bench/bulk_import.py``). Nothing here leaks: the objects of a
    request are freed by reference counting; cycles are still collected, less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


#: Allocations between two collections of the youngest generation (CPython's default: 700).
GC_YOUNG_THRESHOLD = 10_000


#: How every /v1 operation is authenticated, as the description tells clients and their generators.
SECURITY_SCHEME = {"type": "http", "scheme": "bearer",
                   "description": "Clé d'API : `Authorization: Bearer <clé>` (créée par `python -m service "
                                  "create-key`, affichée une seule fois)."}


def _document_push_body(app: FastAPI) -> None:
    """The push route reads its body itself (JSON or a spreadsheet) so that every rule is
    reported in French at once; its schema is added to the description here, with the bearer
    key every /v1 operation requires."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default_openapi()
            body = SubmissionCreate.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(body.pop("$defs", {}))
            components["schemas"]["SubmissionCreate"] = body
            components["securitySchemes"] = {"cle_api": SECURITY_SCHEME}
            for path, item in schema["paths"].items():
                if path.startswith("/v1/"):
                    for operation in item.values():
                        operation["security"] = [{"cle_api": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


app = create_app()
