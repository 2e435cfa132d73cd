"""Evidence bundles: everything behind one version — or one control case — in one BagIt bag.

Building a bundle, in order:

1. read what the caller may see (the version, its proofs, the case), as the API does (404 outside
   the scope);
2. check every proof's stored bytes against their SHA-256 (and take their SHA-512): a proof that
   no longer matches never goes into a bag, the request fails before the first byte;
3. record the reads — the bundle and each proof it carries — and commit them (chain of custody);
4. gather the rest, custody included: the signed report, the version in the CNSA template, the
   request's audit events with the latest checkpoint and one inclusion proof per sequenced event;
5. stream the ZIP (``service.evidence.bag``), re-hashing each proof as it goes out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import orjson
import sqlalchemy as sa
from sqlmodel import Session, col, select

from service.audit.custody import BUNDLE_READ, PROOF_READ, Read, custody_by_proof, record_reads
from service.audit.trail import link_of
from service.audit.use_cases import event_view, named_actors
from service.control import use_cases as control
from service.domain import merkle
from service.domain.access import Principal
from service.evidence.bag import PayloadFile, stream_bag
from service.exports import use_cases as exports
from service.exports.files import write_xlsx
from service.kit.cache import BoundedCache
from service.kit.db import Database
from service.kit.offload import Offload
from service.kit.storage import ProofStore
from service.log import queries as log_queries
from service.models import AuditEvent, FundingRequest, LogCheckpoint, Proof, iso_z, utcnow
from service.reports import use_cases as reports
from service.reports.signing import ReportSigner
from service.reports.use_cases import MILESTONE_LABELS
from service.scope import load_submission
from service.submissions.use_cases import get_submission

SOURCE_ORGANIZATION = "CNSA — service des indicateurs d'usage du programme ESMS numérique"
_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


class ProofUnavailable(Exception):
    """A proof of the bundle whose stored bytes are corrupt or missing (``reason``: the store's
    exception); nothing was recorded, nothing is sent."""

    def __init__(self, proof_id: str, reason: Exception) -> None:
        super().__init__(proof_id)
        self.proof_id = proof_id
        self.reason = reason


@dataclass
class Bundle:
    """A bag ready to be streamed; ``chunks`` closes the proofs' handles however it ends."""

    top: str
    payload: list[PayloadFile]
    info: list[tuple[str, str]]
    bagged_at: datetime
    handles: list[IO[bytes]] = field(default_factory=list)

    @property
    def filename(self) -> str:
        return f"{self.top}.zip"

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from stream_bag(self.top, self.payload, self.info, bagged_at=self.bagged_at)
        finally:
            self.close()

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


@dataclass(frozen=True)
class Sources:
    """What a bundle is made from, besides the database: the proof store, the report signer."""

    store: ProofStore
    signer: ReportSigner
    report_cache: BoundedCache[tuple[str, str, Any], bytes]
    timezone: str
    offload: Offload


def version_bundle(database: Database, principal: Principal, submission_id: str, sources: Sources, *,
                   route: dict[str, str], record: bool = True) -> Bundle:
    """The bag of a version the caller may read."""
    return _bundle(database, principal, sources, route=route, record=record, submission_id=submission_id)


def case_bundle(database: Database, principal: Principal, case_id: str, sources: Sources, *,
                route: dict[str, str], record: bool = True) -> Bundle:
    """The bag of a control case's version, with the case (CNSA auditors, administrators)."""
    with Session(database.engine) as session:
        case = control.get_case(session, principal, case_id)
    return _bundle(database, principal, sources, route=route, record=record, submission_id=case.submission_id,
                   case_id=case_id)


def _bundle(database: Database, principal: Principal, sources: Sources, *, route: dict[str, str], record: bool,
            submission_id: str, case_id: str | None = None) -> Bundle:
    with Session(database.engine) as session:
        sub, req = load_submission(session, principal, submission_id)
        proof_views = get_submission(session, principal, submission_id)["proofs"]
        stored = {p.id: p for p in session.exec(select(Proof).where(
            Proof.id.in_([p["id"] for p in proof_views])))}  # type: ignore[attr-defined]
    top = f"evidence-{req.galis_ref}-{sub.milestone}-v{sub.version}"
    bundle = Bundle(top=top, payload=[], bagged_at=utcnow(), info=[
        ("Source-Organization", SOURCE_ORGANIZATION),
        ("External-Identifier", sub.id),
        *([("Internal-Sender-Identifier", f"control-case:{case_id}")] if case_id else []),
        ("External-Description", f"Dossier de preuve de la version {sub.version} ({MILESTONE_LABELS[sub.milestone]}) "
                                 f"de la demande GALIS {req.galis_ref}, porteur {req.porteur_name} (SIRET {req.siret})"
                                 + (f", contrôle CNSA {case_id}" if case_id else "")),
    ])
    try:
        files = _checked_proofs(sources.store, [stored[p["id"]] for p in proof_views], bundle)
        if record:
            reads = [Read(BUNDLE_READ, "control_case" if case_id else "submission", case_id or sub.id,
                          request_id=req.id, galis_ref=req.galis_ref,
                          details=(("submission_id", sub.id), ("proofs", [p["id"] for p in proof_views]))),
                     *(Read(PROOF_READ, "proof", p["id"], request_id=req.id, galis_ref=req.galis_ref,
                            details=(("bundle", top),)) for p in proof_views)]
            database.writer.run_sync(lambda session: record_reads(session, principal, route, reads))
        with Session(database.engine) as session:
            bundle.payload = [*files.values(), *_documents(session, principal, sources, sub.id, req, proof_views,
                                                           files, case_id)]
    except BaseException:
        bundle.close()
        raise
    return bundle


def _checked_proofs(store: ProofStore, proofs: list[Proof], bundle: Bundle) -> dict[str, PayloadFile]:
    """Each distinct proof content, checked and open, by SHA-256."""
    files: dict[str, PayloadFile] = {}
    for proof in proofs:
        if proof.sha256 in files:
            continue
        try:
            handle, found = store.open_checked(proof.sha256, also=() if proof.sha512 else ("sha512",))
        except Exception as exc:  # CorruptProof, MissingProof: logged by the store and the router
            raise ProofUnavailable(proof.id, exc) from exc
        bundle.handles.append(handle)
        files[proof.sha256] = PayloadFile(
            path=_proof_path(proof.sha256, proof.media_type), size=proof.size, sha256=proof.sha256,
            sha512=proof.sha512 or found["sha512"], open=lambda handle=handle: handle, recheck=True)  # type: ignore[misc]
    return files


def _proof_path(sha256: str, media_type: str) -> str:
    return f"proofs/{sha256}.{_EXTENSIONS.get(media_type, 'bin')}"


def _json(path: str, value: Any) -> PayloadFile:
    # orjson: the layout of json.dumps(value, ensure_ascii=False, indent=2), several times faster
    # (a request's audit events and their inclusion proofs run to megabytes)
    return PayloadFile.of_bytes(path, orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")


def _documents(session: Session, principal: Principal, sources: Sources, submission_id: str, req: FundingRequest,
               proof_views: list[dict[str, Any]], files: dict[str, PayloadFile],
               case_id: str | None) -> list[PayloadFile]:
    """Every file of ``data/`` but the proofs, as they stand once the reads are recorded."""
    version = get_submission(session, principal, submission_id)
    _, rows = exports.version_rows(session, principal, submission_id)
    handle, _ = sources.offload.write(write_xlsx, rows)
    with handle:
        workbook = handle.read()
    model = reports.build_model(session, principal, submission_id, timezone=sources.timezone)
    pdf, _ = reports.cached_report(model, sources.signer, sources.report_cache, sources.offload)
    custody = custody_by_proof(session, [p["id"] for p in proof_views])
    proofs = [{**{k: p[k] for k in ("id", "finess", "period_start", "period_end", "measured_on", "signed_by",
                                     "sha256", "media_type", "size", "filename", "uploaded_at", "uploaded_by")},
               "sha512": files[p["sha256"]].sha512, "file": f"data/{files[p['sha256']].path}",
               "custody": custody[p["id"]]} for p in proof_views]
    events = list(session.execute(sa.select(AuditEvent).where(col(AuditEvent.request_id) == req.id)
                                  .order_by(col(AuditEvent.seq))).scalars())
    named = named_actors(session, events)
    documents = [
        _json("submission.json", version),
        PayloadFile.of_bytes("declaration.xlsx", workbook),
        PayloadFile.of_bytes("report.pdf", pdf),
        _json("proofs.json", {"submission_id": submission_id, "proofs": proofs}),
        _json("audit-events.json", {"galis_ref": req.galis_ref, "as_of": iso_z(utcnow()),
                                    "items": [event_view(e, named) for e in events]}),
        *_log_files(session, events),
    ]
    if case_id is not None:
        documents.append(_json("case.json", control.get_case(session, principal, case_id).model_dump(mode="json")))
    return documents


def _log_files(session: Session, events: list[AuditEvent]) -> list[PayloadFile]:
    """The latest checkpoint and the inclusion proof of each listed event it holds, if any."""
    latest = session.execute(sa.select(LogCheckpoint.size, LogCheckpoint.root_hash, LogCheckpoint.note)  # type: ignore[call-overload]
                             .order_by(col(LogCheckpoint.size).desc()).limit(1)).one_or_none()
    if latest is None or not latest.size:
        return []
    size = int(latest.size)
    included = [e for e in events if e.log_index is not None and e.log_index < size]
    paths = log_queries.inclusion_proofs(session, [int(e.log_index) for e in included], size)  # type: ignore[arg-type]
    return [
        PayloadFile.of_bytes("log/checkpoint.txt", str(latest.note).encode("utf-8")),
        _json("log/inclusion-proofs.json", {
            "tree_size": size, "root_hash": bytes(latest.root_hash).hex(),
            "hash_algorithm": "SHA-256, RFC 9162 §2.1 (feuille : SHA-256(0x00 ‖ leaf))",
            "proofs": [{"seq": e.seq, "index": e.log_index, "leaf_hash": merkle.leaf_hash(link_of(e).leaf()).hex(),
                        "hashes": [h.hex() for h in paths[int(e.log_index)]]} for e in included],  # type: ignore[arg-type]
            "not_yet_sequenced": [e.seq for e in events if e.log_index is None or e.log_index >= size],
        }),
    ]
