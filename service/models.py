"""Database tables (SQLModel). The schema itself is built by Alembic migrations only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Stable constraint names, so that migrations can refer to them on every backend.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: timestamps are UTC-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(value: datetime | None) -> str | None:
    """A stored timestamp as the API writes it: ISO 8601 in UTC with a ``Z``."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime(), **kw)


class Organisation(SQLModel, table=True):
    """Who acts, collectively: a porteur (one per SIRET), an éditeur, an ARS (one per région),
    the CNSA, the administration. Its kind and scope (SIRET, région) never change."""

    __tablename__ = "organisation"
    __table_args__ = (sa.UniqueConstraint("kind", "siret"), sa.UniqueConstraint("kind", "region_code"))

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    name: str = Field(max_length=300)
    siret: str | None = Field(default=None, max_length=14)
    region_code: str | None = Field(default=None, max_length=2)
    contact_email: str | None = Field(default=None, max_length=254)
    created_at: datetime = _ts(default_factory=utcnow)


class Person(SQLModel, table=True):
    """A person of an organisation: invited by e-mail, linked to its ProConnect identity
    (issuer, ``sub``) at its first sign-in."""

    __tablename__ = "person"
    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    email: str = Field(max_length=254, unique=True)
    given_name: str = Field(default="", max_length=200)
    usual_name: str = Field(default="", max_length=200)
    role: str = Field(default="member", max_length=10)
    active: bool = True
    issuer: str | None = Field(default=None, max_length=300)
    subject: str | None = Field(default=None, max_length=255)
    invited_at: datetime = _ts(default_factory=utcnow)
    last_sign_in_at: datetime | None = _ts(default=None)


class Mandate(SQLModel, table=True):
    """A porteur's grant to an éditeur to push for one of its requests. The reference is kept as
    text: a key created with ``--galis-ref`` may name a request not registered yet."""

    __tablename__ = "mandate"
    __table_args__ = (sa.Index("ix_mandate_editeur_ref", "editeur_id", "galis_ref"),)

    id: str = Field(primary_key=True, max_length=36)
    galis_ref: str = Field(max_length=8, index=True)
    editeur_id: int = Field(foreign_key="organisation.id")
    #: First and last day (inclusive) of the mandate; none: from the grant, without end.
    starts_on: date | None = None
    ends_on: date | None = None
    granted_at: datetime = _ts(default_factory=utcnow)
    granted_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    granted_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    revoked_at: datetime | None = _ts(default=None)
    revoked_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    revoked_by_person_id: int | None = Field(default=None, foreign_key="person.id")


class ApiKey(SQLModel, table=True):
    """An API key of an organisation, stored only as the SHA-256 of its secret. Its role, région
    and SIRET are its organisation's, kept beside it for the lists that group by them."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    #: The key's first characters, printed at creation: how people name a key (revocation).
    prefix: str = Field(max_length=16, unique=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    #: A manager key may do what a manager person of its organisation may.
    manager: bool = False
    role: str = Field(max_length=20)
    region_code: str | None = Field(default=None, max_length=2)
    siret: str | None = Field(default=None, max_length=14)
    label: str = Field(default="", max_length=200)
    created_at: datetime = _ts(default_factory=utcnow)
    #: First day the key is refused (Europe/Paris); none: no expiry.
    expires_on: date | None = None
    revoked_at: datetime | None = _ts(default=None)
    #: Refreshed at most once a minute per process, when the key is looked up.
    last_used_at: datetime | None = _ts(default=None)


class FundingRequest(SQLModel, table=True):
    """A funding request (demande GALIS) and the state of its milestones.

    The ``*_last_version`` counters number the declarations of each milestone; they are
    incremented under the row's write lock, so versions have no gap and no duplicate.
    """

    __tablename__ = "funding_request"

    id: int | None = Field(default=None, primary_key=True)
    galis_ref: str = Field(max_length=8, unique=True)
    siret: str = Field(max_length=14, index=True)
    porteur_name: str = Field(max_length=300)
    campaign_year: int
    region_code: str = Field(max_length=2, index=True)
    va_opened_on: date | None = None
    fin_projet_opened_on: date | None = None
    fin_projet_due_on: date | None = None
    closed_on: date | None = None
    va_last_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    fin_projet_last_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: The fin de projet reminders sent for the current due date (days before it: « 30,7 »), and
    #: when its overdue was told; both start again when the deadline is extended.
    fin_projet_reminders_sent: str = Field(default="", max_length=20, sa_column_kwargs={"server_default": ""})
    fin_projet_overdue_told_on: date | None = None
    #: The day the next of those reminders is due (what the reminders' job looks for); none once
    #: the last is sent.
    fin_projet_next_reminder_on: date | None = Field(default=None, index=True)
    created_at: datetime = _ts(default_factory=utcnow)
    created_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    created_by_person_id: int | None = Field(default=None, foreign_key="person.id")


class Establishment(SQLModel, table=True):
    """An establishment (FINESS géographique) of a request; one FINESS is funded once only."""

    __tablename__ = "establishment"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="funding_request.id", index=True)
    finess: str = Field(max_length=9, unique=True)
    name: str = Field(max_length=300)
    category: str | None = Field(default=None, max_length=3)


class LifecycleEvent(SQLModel, table=True):
    __tablename__ = "lifecycle_event"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="funding_request.id", index=True)
    type: str = Field(max_length=30)
    event_on: date
    until: date | None = None
    recorded_at: datetime = _ts(default_factory=utcnow)
    recorded_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    recorded_by_person_id: int | None = Field(default=None, foreign_key="person.id")


class Submission(SQLModel, table=True):
    """One immutable version of a declaration for one request and one milestone.

    ``changed_at`` is the time of the latest thing that happened to it — received, reviewed,
    given a proof — the order of the auditors' incremental feed."""

    __tablename__ = "submission"
    __table_args__ = (sa.UniqueConstraint("request_id", "milestone", "version"),
                      sa.Index("ix_submission_changed_at_id", "changed_at", "id"),
                      sa.Index("ix_submission_awaiting_review", "received_at", "id",
                               postgresql_where=sa.text("awaiting_review"), sqlite_where=sa.text("awaiting_review")),
                      sa.Index("ix_submission_latest", "milestone", "request_id",
                               postgresql_where=sa.text("is_latest"), sqlite_where=sa.text("is_latest")))

    id: str = Field(primary_key=True, max_length=36)
    request_id: int = Field(foreign_key="funding_request.id")
    milestone: str = Field(max_length=12)
    version: int
    received_at: datetime = _ts(default_factory=utcnow)
    received_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    received_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    source: str = Field(max_length=10)
    fingerprint: str = Field(max_length=64)
    row_count: int
    targets_met: bool
    warnings: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    changed_at: datetime = _ts(default_factory=utcnow)
    #: Provenance, as the push gave it: the software that produced the figures, when extracted.
    software_name: str | None = Field(default=None, max_length=100)
    software_version: str | None = Field(default=None, max_length=100)
    extracted_at: datetime | None = _ts(default=None)
    #: The latest version of its milestone with no decision yet: what the review queue lists, read
    #: off a partial index in reception order. Kept under the request's row lock by the push (the
    #: version it replaces) and the decision.
    awaiting_review: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    #: Whether the ARS people who want each version at once were told of it (the active
    #: deliverer's pass tells them of the versions awaiting review not told yet).
    review_told: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    #: The latest version of its milestone (the one the statistics read), kept by the push.
    is_latest: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class SubmissionRow(SQLModel, table=True):
    """One establishment's counts in one version (template columns C–L)."""

    __tablename__ = "submission_row"
    __table_args__ = (sa.UniqueConstraint("submission_id", "finess"),)

    id: int | None = Field(default=None, primary_key=True)
    submission_id: str = Field(foreign_key="submission.id", max_length=36)
    row_number: int
    finess: str = Field(max_length=9)
    raison_sociale: str | None = Field(default=None, max_length=300)
    dmp_fed: int
    mss_messages_sent: int
    active_dui: int
    persons_accompanied: int
    dui_with_personal_plan: int
    dui_with_agenda_event: int
    period_start: date
    period_end: date
    target_set_id: str = Field(max_length=40)


class LatestRate(SQLModel, table=True):
    """One establishment's rates in the latest version of a request's milestone: the peer
    statistics' maintained aggregate, one narrow row per establishment and milestone instead of
    every version's rows. Replaced by each push under the request's row lock; region and category
    never change once a request is registered."""

    __tablename__ = "latest_rate"
    __table_args__ = (sa.Index("ix_latest_rate_peers", "milestone", "category"),)

    request_id: int = Field(foreign_key="funding_request.id", primary_key=True)
    milestone: str = Field(primary_key=True, max_length=12)
    finess: str = Field(primary_key=True, max_length=9)
    submission_id: str = Field(foreign_key="submission.id", max_length=36)
    version: int
    region_code: str = Field(max_length=2)
    category: str | None = Field(default=None, max_length=3)
    #: Each indicator's rate (None: not computable) and whether its target was met.
    active_files_rate: float | None = None
    active_files_met: bool | None = None
    personal_plan_rate: float | None = None
    personal_plan_met: bool | None = None
    agenda_rate: float | None = None
    agenda_met: bool | None = None
    mssante_rate: float | None = None
    mssante_met: bool | None = None
    dmp_rate: float | None = None
    dmp_met: bool | None = None


class IdempotencyRecord(SQLModel, table=True):
    """A push made with an ``Idempotency-Key``: the same key and body replays its version."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("api_key_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    api_key_id: int = Field(foreign_key="api_key.id")
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    submission_id: str = Field(foreign_key="submission.id", max_length=36)
    created_at: datetime = _ts(default_factory=utcnow)


class Proof(SQLModel, table=True):
    """A proof of usage uploaded for one FINESS of one version; its bytes live in the proof store.

    ``evidence_key`` names what it documents (FINESS, figures, period): the proof also covers
    later versions of the same request and milestone whose row has the same key.
    """

    __tablename__ = "proof"
    __table_args__ = (sa.Index("ix_proof_request_id_milestone_finess", "request_id", "milestone", "finess"),)

    id: str = Field(primary_key=True, max_length=36)
    submission_id: str = Field(foreign_key="submission.id", max_length=36, index=True)
    request_id: int = Field(foreign_key="funding_request.id")
    milestone: str = Field(max_length=12)
    finess: str = Field(max_length=9)
    evidence_key: str = Field(max_length=64)
    sha256: str = Field(max_length=64, index=True)
    #: Computed at upload (for the SHA-512 manifest of evidence bundles); null for proofs
    #: uploaded before it was kept, computed when a bundle is built.
    sha512: str | None = Field(default=None, max_length=128)
    media_type: str = Field(max_length=40)
    size: int = Field(sa_type=sa.BigInteger)
    filename: str | None = Field(default=None, max_length=255)
    measured_on: date
    period_start: date
    period_end: date
    signed_by: str = Field(max_length=200)
    uploaded_at: datetime = _ts(default_factory=utcnow)
    uploaded_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    uploaded_by_person_id: int | None = Field(default=None, foreign_key="person.id")


class Review(SQLModel, table=True):
    """An ARS decision on one version; one decision per version."""

    __tablename__ = "review"

    id: str = Field(primary_key=True, max_length=36)
    submission_id: str = Field(foreign_key="submission.id", max_length=36, unique=True)
    request_id: int = Field(foreign_key="funding_request.id", index=True)
    milestone: str = Field(max_length=12)
    decision: str = Field(max_length=20)
    comment: str | None = Field(default=None, max_length=2000)
    decided_at: datetime = _ts(default_factory=utcnow)
    decided_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    decided_by_person_id: int | None = Field(default=None, foreign_key="person.id")


class ControlCase(SQLModel, table=True):
    """The CNSA control of one version, opened when the version is stored."""

    __tablename__ = "control_case"
    #: The queue's order (highest score first, then oldest), whole and by status: a page is the
    #: first rows of an index, not a sort of every case.
    __table_args__ = (sa.Index("ix_control_case_queue", sa.text("score DESC"), "opened_at", "id"),
                      sa.Index("ix_control_case_status_queue", "status", sa.text("score DESC"), "opened_at", "id"))

    id: str = Field(primary_key=True, max_length=36)
    submission_id: str = Field(foreign_key="submission.id", max_length=36, unique=True)
    request_id: int = Field(foreign_key="funding_request.id", index=True)
    region_code: str = Field(max_length=2, index=True)
    milestone: str = Field(max_length=12)
    version: int
    score: int
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    status: str = Field(max_length=12)
    opened_at: datetime = _ts(default_factory=utcnow)
    claimed_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    claimed_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    claimed_at: datetime | None = _ts(default=None)
    outcome: str | None = Field(default=None, max_length=20)
    outcome_comment: str | None = Field(default=None, max_length=2000)
    closed_at: datetime | None = _ts(default=None)
    closed_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    closed_by_person_id: int | None = Field(default=None, foreign_key="person.id")


class ProofRequest(SQLModel, table=True):
    """A request of the CNSA for the proof of one FINESS, due 48 hours later."""

    __tablename__ = "proof_request"
    __table_args__ = (sa.Index("ix_proof_request_request_id_finess", "request_id", "milestone", "finess"),)

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="control_case.id", max_length=36, index=True)
    request_id: int = Field(foreign_key="funding_request.id")
    milestone: str = Field(max_length=12)
    finess: str = Field(max_length=9)
    message: str = Field(max_length=2000)
    requested_at: datetime = _ts(default_factory=utcnow)
    due_at: datetime = _ts()
    requested_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    requested_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    answered_at: datetime | None = _ts(default=None)
    proof_id: str | None = Field(default=None, foreign_key="proof.id", max_length=36)
    #: When the ``proof_request.overdue`` webhook event was queued (once per request).
    overdue_notified_at: datetime | None = _ts(default=None)
    #: When the porteur was reminded of it, 12 hours before its deadline (once).
    reminded_at: datetime | None = _ts(default=None)


class AuditEvent(SQLModel, table=True):
    """One change, append-only. ``hash`` covers its fields; inside the chain that preceded the
    verifiable log it also covers its predecessor's (``prev_hash``), after it ``prev_hash`` is null.
    ``seq`` comes from a sequence on PostgreSQL: unique and increasing, with gaps."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_object", "object_type", "object_id"),)

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    occurred_at: datetime = _ts()
    actor_key_id: int | None = None
    actor_person_id: int | None = None
    actor_organisation_id: int | None = None
    actor_role: str = Field(max_length=20)
    actor_label: str = Field(max_length=200)
    action: str = Field(max_length=40)
    object_type: str = Field(max_length=30)
    object_id: str = Field(max_length=64)
    request_id: int | None = Field(default=None, index=True)
    galis_ref: str | None = Field(default=None, max_length=8)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    payload_digest: str = Field(max_length=64)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str = Field(max_length=64, unique=True)
    #: Its 0-based position in the log's Merkle tree, given by the sequencer after the commit.
    log_index: int | None = Field(default=None, sa_type=sa.BigInteger, unique=True)


class AuditHead(SQLModel, table=True):
    """The end of the hash chain that preceded the verifiable log (one row), fixed when the log
    took over: ``audit verify`` checks that the chain reaches it. Nothing moves it any more."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int
    hash: str = Field(max_length=64)


class LogNode(SQLModel, table=True):
    """The hash of a perfect subtree of the log: ``2**level`` leaves from ``idx * 2**level``
    (level 0: the leaf hashes). Written by the sequencer only, never changed."""

    __tablename__ = "log_node"

    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    idx: int = Field(primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False})
    hash: bytes = Field(sa_type=sa.LargeBinary(32))


class LogCheckpoint(SQLModel, table=True):
    """A signed checkpoint of the log (C2SP signed note), one per tree size reached."""

    __tablename__ = "log_checkpoint"

    size: int = Field(primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False})
    root_hash: bytes = Field(sa_type=sa.LargeBinary(32))
    note: str = Field(sa_type=sa.Text)
    key_id: str = Field(max_length=8)
    signed_at: datetime = _ts()
    #: An RFC 3161 time-stamp reply (DER) over the note's bytes, from ``SERVICE_TSA_URL``.
    timestamp_reply: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    timestamped_at: datetime | None = _ts(default=None)


class LogState(SQLModel, table=True):
    """The size of the log (one row), moved by the sequencer alone: writers never touch it."""

    __tablename__ = "log_state"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    size: int = Field(sa_type=sa.BigInteger)


class FinessSnapshot(SQLModel, table=True):
    """One import of the public FINESS extract: the file's SHA-256, its date and what it did."""

    __tablename__ = "finess_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    extract_version: int
    extracted_on: date = Field(index=True)
    filename: str | None = Field(default=None, max_length=255)
    size: int = Field(sa_type=sa.BigInteger)
    encoding: str = Field(max_length=20)
    establishments: int
    added: int
    closed: int
    reopened: int
    imported_at: datetime = _ts(default_factory=utcnow)
    imported_by_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    imported_by_person_id: int | None = Field(default=None, foreign_key="person.id")


class RegistryEstablishment(SQLModel, table=True):
    """An establishment (FINESS ET) as the latest FINESS snapshot knows it. ``closed_on``: the date
    of the first snapshot it was missing from (the extract has no closure date)."""

    __tablename__ = "registry_establishment"

    finess: str = Field(primary_key=True, max_length=9)
    finess_ej: str | None = Field(default=None, max_length=9)
    name: str = Field(max_length=300)
    long_name: str | None = Field(default=None, max_length=300)
    department: str = Field(max_length=2)
    region_code: str | None = Field(default=None, max_length=2)
    category_code: str | None = Field(default=None, max_length=3)
    category_label: str | None = Field(default=None, max_length=200)
    siret: str | None = Field(default=None, max_length=14)
    opened_on: date | None = None
    updated_on: date | None = None
    first_snapshot_id: int = Field(foreign_key="finess_snapshot.id")
    #: Not indexed: the import compares it with the new snapshot's id for every row, and an index
    #: would be rewritten for every row of every import.
    last_seen_snapshot_id: int = Field(foreign_key="finess_snapshot.id")
    closed_on: date | None = None
    closed_snapshot_id: int | None = Field(default=None, foreign_key="finess_snapshot.id")


class TargetSetRow(SQLModel, table=True):
    """A set of targets (``service.domain.targets.TargetSet``); immutable once a version used it."""

    __tablename__ = "target_set"

    id: str = Field(primary_key=True, max_length=40)
    label: str = Field(max_length=300)
    campaign_year: int | None = None
    category: str | None = Field(default=None, max_length=3)
    active_files: float
    personal_plan: float
    agenda: float
    mssante: float
    dmp: float
    binding: bool
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class WebhookSubscription(SQLModel, table=True):
    """Where a key wants to be told of changes (Standard Webhooks). ``secret`` signs each delivery
    (``whsec_`` + base64 of 32 random bytes): kept as is, since signing needs it."""

    __tablename__ = "webhook_subscription"

    id: str = Field(primary_key=True, max_length=36)
    key_id: int = Field(foreign_key="api_key.id", index=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    description: str = Field(default="", max_length=500)
    secret: str = Field(max_length=100)
    #: ``active``, ``disabled`` (the receiver answered 410) or ``deleted``.
    status: str = Field(default="active", max_length=10, index=True)
    created_at: datetime = _ts(default_factory=utcnow)
    disabled_at: datetime | None = _ts(default=None)
    disabled_reason: str | None = Field(default=None, max_length=300)
    deleted_at: datetime | None = _ts(default=None)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription, queued in the transaction of the change (the outbox).
    ``id`` is the ``webhook-id`` of every attempt; ``body`` the exact bytes sent each time."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_delivery_subscription", "subscription_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    subscription_id: str = Field(foreign_key="webhook_subscription.id", max_length=36)
    event_type: str = Field(max_length=40)
    body: str = Field(sa_type=sa.Text)
    created_at: datetime = _ts(default_factory=utcnow)
    #: ``pending`` (an attempt is due at ``next_attempt_at``), ``delivered``, ``failed`` (the
    #: retry schedule is spent) or ``cancelled`` (its subscription was disabled or deleted).
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(default=None)
    delivered_at: datetime | None = _ts(default=None)
    last_status_code: int | None = None


class WebhookAttempt(SQLModel, table=True):
    """One POST of a delivery: when, what the receiver answered, how long it took, what failed."""

    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(foreign_key="webhook_delivery.id", max_length=40, index=True)
    attempted_at: datetime = _ts()
    status_code: int | None = None
    duration_ms: int
    error: str | None = Field(default=None, max_length=500)


class WebhookLease(SQLModel, table=True):
    """Which process delivers webhooks (one row, created by the first deliverer): the holder
    renews it while it works; another process takes it over once it has expired."""

    __tablename__ = "webhook_lease"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    holder: str = Field(max_length=64)
    expires_at: datetime = _ts()


class MailMessage(SQLModel, table=True):
    """One mail to send, queued in the transaction of the change (the outbox). Its parts are
    written when it is queued: every attempt sends the same mail, under the same ``Message-ID``
    (made of ``id``)."""

    __tablename__ = "mail_message"
    __table_args__ = (
        sa.Index("ix_mail_message_due", "status", "next_attempt_at"),
        sa.Index("ix_mail_message_request", "request_id", "created_at"),
        sa.Index("ix_mail_message_created", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    #: What it tells (``proof_request.opened``…): the person's preferences are per category.
    category: str = Field(max_length=40)
    request_id: int | None = Field(default=None, foreign_key="funding_request.id")
    #: The person it is written to, when it is one (its one-click unsubscribe link names it).
    person_id: int | None = Field(default=None, foreign_key="person.id")
    recipients: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    subject: str = Field(max_length=300)
    text_body: str = Field(sa_type=sa.Text)
    html_body: str = Field(sa_type=sa.Text)
    created_at: datetime = _ts(default_factory=utcnow)
    #: ``pending`` (an attempt is due at ``next_attempt_at``), ``sent`` or ``failed`` (the retry
    #: schedule is spent).
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(default=None)
    sent_at: datetime | None = _ts(default=None)
    last_error: str | None = Field(default=None, max_length=500)


class ServiceSecret(SQLModel, table=True):
    """A secret of the service made at its first use and kept in the database, so that every
    process shares it (the key of the mails' unsubscribe links)."""

    __tablename__ = "service_secret"

    name: str = Field(primary_key=True, max_length=40)
    value: str = Field(max_length=200)
    created_at: datetime = _ts(default_factory=utcnow)


class NotificationPreference(SQLModel, table=True):
    """A person's choice for one category of mail (``instant``, ``daily`` or ``off``); without
    a row, the category's default (``service.domain.notifications``)."""

    __tablename__ = "notification_preference"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    category: str = Field(max_length=40, primary_key=True)
    mode: str = Field(max_length=10)
    updated_at: datetime = _ts(default_factory=utcnow)


class HeldNotification(SQLModel, table=True):
    """What a person who chose ``daily`` for its category will read in its next digest."""

    __tablename__ = "held_notification"
    __table_args__ = (sa.Index("ix_held_notification_person", "person_id", "digest_id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    category: str = Field(max_length=40)
    request_id: int | None = Field(default=None, foreign_key="funding_request.id")
    subject: str = Field(max_length=300)
    created_at: datetime = _ts(default_factory=utcnow)
    #: The digest that carried it; none while it waits.
    digest_id: int | None = Field(default=None, foreign_key="mail_digest.id")


class MailDigest(SQLModel, table=True):
    """One person's digest of one working day: queued once, whichever deliverer runs."""

    __tablename__ = "mail_digest"
    __table_args__ = (sa.UniqueConstraint("person_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    day: date
    #: Its mail; none when there was nothing to tell that day.
    mail_id: str | None = Field(default=None, foreign_key="mail_message.id", max_length=36)
    created_at: datetime = _ts(default_factory=utcnow)


class RequestMessage(SQLModel, table=True):
    """The thread of a funding request: messages written by the porteur, its ARS, the CNSA or an
    administrator (``message``), and a copy of each mail the service sent about it
    (``notification``)."""

    __tablename__ = "request_message"
    __table_args__ = (sa.Index("ix_request_message_thread", "request_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=36)
    request_id: int = Field(foreign_key="funding_request.id")
    kind: str = Field(max_length=12)
    #: A notification's subject; none for a message.
    subject: str | None = Field(default=None, max_length=300)
    body: str = Field(sa_type=sa.Text)
    created_at: datetime = _ts(default_factory=utcnow)
    author_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    author_person_id: int | None = Field(default=None, foreign_key="person.id")
    #: The organisation the author wrote for (its kind decides who is told).
    author_kind: str | None = Field(default=None, max_length=20)
    mail_id: str | None = Field(default=None, foreign_key="mail_message.id", max_length=36)


class ConsoleSession(SQLModel, table=True):
    """A person signed in to the console with an API key: the cookie holds a random token, this
    row its SHA-256 (never the key). Every process sees it; it ends at sign-out, after
    ``SERVICE_CONSOLE_IDLE_MINUTES`` without use, or ``SERVICE_CONSOLE_MAX_HOURS`` after sign-in."""

    __tablename__ = "console_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    #: Signed in with an API key (``key_id``) or through ProConnect (``person_id``).
    key_id: int | None = Field(default=None, foreign_key="api_key.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    #: The provider's ID token, kept for its sign-out (``id_token_hint``).
    id_token: str | None = Field(default=None, sa_type=sa.Text)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    last_seen_at: datetime = _ts(default_factory=utcnow)
    expires_at: datetime = _ts()
    ended_at: datetime | None = _ts(default=None)



class RateLimitState(SQLModel, table=True):
    """A rate limit's bucket (``service/kit/rate_limits.py``): its class and caller, and its
    theoretical arrival time in epoch seconds. ``UNLOGGED`` on PostgreSQL, where every worker
    counts in it; unused on SQLite, whose single process counts in memory."""

    __tablename__ = "rate_limit_state"

    bucket: str = Field(primary_key=True, max_length=200)
    tat: float


# --- the Core tables, typed ----------------------------------------------------------------
# SQLModel does not declare ``__table__`` on its models: the Core table of each model is taken
# here, once, with its type, for the statements built on plain rows (the push path, the log).

def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core ``Table`` behind ``model``."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table


ORGANISATION_TABLE = table_of(Organisation)
PERSON_TABLE = table_of(Person)
MANDATE_TABLE = table_of(Mandate)
API_KEY_TABLE = table_of(ApiKey)
FUNDING_REQUEST_TABLE = table_of(FundingRequest)
ESTABLISHMENT_TABLE = table_of(Establishment)
LIFECYCLE_EVENT_TABLE = table_of(LifecycleEvent)
SUBMISSION_TABLE = table_of(Submission)
SUBMISSION_ROW_TABLE = table_of(SubmissionRow)
LATEST_RATE_TABLE = table_of(LatestRate)
IDEMPOTENCY_RECORD_TABLE = table_of(IdempotencyRecord)
PROOF_TABLE = table_of(Proof)
REVIEW_TABLE = table_of(Review)
CONTROL_CASE_TABLE = table_of(ControlCase)
PROOF_REQUEST_TABLE = table_of(ProofRequest)
AUDIT_EVENT_TABLE = table_of(AuditEvent)
AUDIT_HEAD_TABLE = table_of(AuditHead)
LOG_NODE_TABLE = table_of(LogNode)
LOG_CHECKPOINT_TABLE = table_of(LogCheckpoint)
LOG_STATE_TABLE = table_of(LogState)
FINESS_SNAPSHOT_TABLE = table_of(FinessSnapshot)
REGISTRY_ESTABLISHMENT_TABLE = table_of(RegistryEstablishment)
TARGET_SET_ROW_TABLE = table_of(TargetSetRow)
WEBHOOK_SUBSCRIPTION_TABLE = table_of(WebhookSubscription)
WEBHOOK_DELIVERY_TABLE = table_of(WebhookDelivery)
WEBHOOK_ATTEMPT_TABLE = table_of(WebhookAttempt)
WEBHOOK_LEASE_TABLE = table_of(WebhookLease)
CONSOLE_SESSION_TABLE = table_of(ConsoleSession)
