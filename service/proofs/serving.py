"""Receiving a proof's upload and refusing a proof's unavailable bytes over HTTP: shared by the
API's routes and the console's form."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from fastapi import Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from service.domain.access import Principal
from service.domain.errors import Issue, ValidationFailed
from service.domain.proofs import ProofRefused
from service.http.problems import HttpProblem
from service.http.uploads import read_upload
from service.kit.db import Database
from service.kit.settings import Settings
from service.kit.storage import CorruptProof, ProofStore
from service.proofs import use_cases

log = logging.getLogger(__name__)


def _refusal(exc: ProofRefused) -> Exception:
    if exc.status == 415:
        return HttpProblem(415, exc.code, "Format de preuve refusé", exc.message)
    return ValidationFailed([Issue(code=exc.code, field="file", message=exc.message)], exc.message, code=exc.code)


async def receive_proof(request: Request, principal: Principal, submission_id: str, *, database: Database,
                        settings: Settings, today: date,
                        check_fields: Callable[[Mapping[str, str]], None] | None = None) -> dict[str, Any]:
    """Read a proof upload and store it (the API's route and the console's form). ``check_fields``
    judges the form's other fields once read, before anything is stored (the console's CSRF token)."""
    def target() -> use_cases.UploadTarget:
        with Session(database.engine) as session:
            return use_cases.upload_target(session, principal, submission_id)

    found = await run_in_threadpool(target)  # scope and state first: no body is read for nothing
    store: ProofStore = request.app.state.proof_store
    too_large = HttpProblem(413, "proof_too_large", "Fichier trop volumineux",
                            f"La preuve dépasse la taille admise ({settings.max_proof_bytes} octets).")
    upload = await read_upload(request, file_field="file", staging=await run_in_threadpool(store.new_staging_file),
                               max_file_bytes=settings.max_proof_bytes, too_large=too_large)
    try:
        if check_fields is not None:
            check_fields(upload.fields)
        try:
            kind = await run_in_threadpool(use_cases.check_file, upload.file, max_pixels=settings.max_image_pixels)
        except ProofRefused as exc:
            raise _refusal(exc) from None
        meta = use_cases.parse_metadata(upload.fields, found, today=today)
        staged = upload.file
        assert staged is not None
        await run_in_threadpool(store.put, staged.sha256, staged.path)
    finally:
        upload.discard()  # the staged copy, if still there (put moves it into the store)
    return await database.writer.run(
        lambda session: use_cases.record_proof(session, principal, found, meta, staged, kind))


def unavailable(proof_id: str, exc: Exception) -> HttpProblem:
    """The answer when a proof's stored bytes cannot be handed out; logged as critical."""
    if isinstance(exc, CorruptProof):
        log.critical("proof %s: stored bytes hash to %s instead of %s", proof_id, exc.found, exc.digest)
        return HttpProblem(500, "proof_integrity_error", "Preuve altérée",
                           f"Le contenu conservé de la preuve {proof_id} ne correspond plus à son empreinte "
                           "SHA-256 : il n'est pas servi. L'incident est signalé à l'exploitation.")
    log.critical("proof %s: its object is missing from the store (%s)", proof_id, exc)
    return HttpProblem(500, "proof_missing_from_store", "Preuve indisponible",
                       f"Le contenu de la preuve {proof_id} est introuvable dans le stockage. "
                       "L'incident est signalé à l'exploitation.")
