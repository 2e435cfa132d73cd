"""Settings, read once from the environment (prefix ``SERVICE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.kit.rate_limits import Rate, parse_rate_limits

VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'service.sqlite3'}",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    db_pool_size: int = Field(default=4, ge=1, description="Read connections per process (PostgreSQL).")
    writer_threads: int = Field(
        default=0, ge=0,
        description="Writer threads per process; 0 = 1 on SQLite (single writer), 2 on PostgreSQL.",
    )
    writer_batch_size: int = Field(default=64, ge=1, description="Most writes committed together.")
    max_json_body_bytes: int = Field(default=5_000_000, ge=1024, description="Largest JSON body accepted.")
    max_rows: int = Field(default=5_000, ge=1, description="Most rows in one declaration.")
    max_template_bytes: int = Field(default=10_000_000, ge=1024, description="Largest template file (xlsx) accepted.")
    max_template_uncompressed_bytes: int = Field(
        default=64_000_000, ge=1024, description="Largest uncompressed content of a template file (xlsx is a zip).")
    api_key_cache_seconds: float = Field(default=30.0, ge=0, description="How long a verified key is cached.")
    timezone: str = Field(default="Europe/Paris", description="Zone of 'today' for date rules.")
    feed_settle_seconds: float = Field(
        default=2.0, ge=0,
        description="The feed of changed versions stops this long before now, so that a change whose "
                    "transaction was still committing is never skipped by a reader who paged past its time.")
    storage_backend: Literal["local", "s3"] = Field(default="local", description="Where proof bytes are kept.")
    storage_dir: Path = Field(default=VAR_DIR / "proofs",
                              description="Proof folder (local backend); staging area of uploads (both).")
    s3_bucket: str | None = Field(default=None, description="Bucket of the proofs (s3 backend).")
    s3_prefix: str = Field(default="proofs/sha256/", description="Key prefix of the proofs in the bucket.")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint; AWS when unset.")
    s3_region: str | None = Field(default=None, description="Region of the bucket.")
    s3_access_key_id: str | None = Field(default=None, description="Else the usual AWS_* variables.")
    s3_secret_access_key: str | None = Field(default=None, description="Else the usual AWS_* variables.")
    max_proof_bytes: int = Field(default=20_000_000, ge=1024, description="Largest proof file accepted.")
    max_finess_extract_bytes: int = Field(default=500_000_000, ge=1024,
                                          description="Largest FINESS extract accepted for import.")
    max_image_pixels: int = Field(default=40_000_000, ge=1, description="Largest screenshot (width × height).")
    signing_key: Path | None = Field(default=None, description="PEM private key signing the reports.")
    signing_cert: Path | None = Field(default=None, description="PEM certificate of that key.")
    signing_previous_certs: list[Path] = Field(
        default_factory=list, description="Certificates of retired signing keys, still trusted to verify old reports "
                                          "(JSON list of PEM paths).")
    signing_dir: Path = Field(default=VAR_DIR / "signing",
                              description="Where the development key is generated when none is configured.")
    report_cache_size: int = Field(default=256, ge=1, description="Signed reports kept in memory per process.")
    offload_workers: int = Field(
        default=1, ge=0, le=64, description="Processes per server process writing costly files (workbooks, "
                                            "signed reports) at a lower priority; 0: in the request's own thread.")
    offload_timeout_seconds: float = Field(
        default=120.0, gt=0, le=3600, description="Longest time for one such file; past it, its process is killed "
                                                  "and the request answered 503 `export_too_long`.")
    log_origin: str = Field(default="esms-numerique.invalid/indicateurs-usage",
                            description="The log's origin (first line of its checkpoints) and its key's name.")
    log_signing_key: Path | None = Field(default=None, description="PEM Ed25519 private key signing checkpoints.")
    log_previous_keys: list[str] = Field(
        default_factory=list, description="Verifier keys (name+id+base64) of retired log keys (JSON list).")
    log_sequence_interval_ms: int = Field(default=1000, ge=10, le=60_000,
                                          description="Longest wait between a commit and its index in the log.")
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: every log line a JSON object with its request id; text: logging left "
                                    "as the server sets it.")
    rate_limits: str = Field(
        default="default=600/min,exports=30/min,sign_in=20/min",
        description="Requests per key (per address for sign-in) by class of route: class=count/unit, comma-"
                    "separated (units s, min, h, day); `off`: no limit. Classes: default, exports (bundles, "
                    "exports, reports, statistics), sign_in (the console's sign-in, API calls with a bad key).")
    rate_limit_delay_seconds: float = Field(
        default=1.0, ge=0, le=60, description="A 429 is sent after this long (at most until the next admission): "
                                              "a flooding caller waits on its own refusals.")
    requests_per_caller: int = Field(
        default=2, ge=1, le=1000, description="Requests of one caller (key, console session, else address) in "
                                              "progress at once per process; its others wait their turn.")
    headers_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="`python -m service serve`: longest wait for a request's headers, "
                                                "from its first byte (then 408 and the connection closed).")
    body_timeout_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="Longest wait for a whole body from the request's start (then 408 "
                                                 "`request_timeout` and the connection closed).")
    keep_alive_seconds: float = Field(default=5.0, gt=0, le=300,
                                      description="`serve`: an idle connection is closed after this long.")
    max_connections: int = Field(default=1000, ge=1, description="`serve`: connections and requests in progress "
                                                                 "per worker; beyond, 503.")
    metrics_token: str | None = Field(
        default=None, min_length=16, description="Bearer token of GET /metrics (Prometheus); unset: no /metrics.")
    ready_max_log_lag_seconds: float = Field(
        default=60.0, gt=0, description="/readyz says not ready while an audit event has waited longer than this "
                                        "for its index in the log.")
    tsa_url: str | None = Field(default=None, description="RFC 3161 time-stamping authority for checkpoints.")
    tsa_interval_s: float = Field(default=3600.0, ge=0, description="Least time between two time-stamped checkpoints.")
    log_dir: Path = Field(default=VAR_DIR / "log",
                          description="Where the development log key is generated when none is configured.")
    webhooks_allow_loopback: bool = Field(
        default=False, description="Let webhooks reach loopback addresses, over http too (development and tests).")
    webhooks_loopback_only: bool = Field(
        default=False, description="Let webhooks reach loopback addresses only (tests: nothing leaves the machine).")
    webhooks_retry_schedule: str = Field(
        default="5,300,1800,7200,18000,36000,50400,72000,86400", pattern=r"^\s*\d+(\s*,\s*\d+)*\s*$",
        description="Seconds before each new attempt of a failed delivery (comma-separated).")
    webhooks_timeout_s: float = Field(default=15.0, gt=0, le=60,
                                      description="Longest wait for a receiver (connection, each read, each write).")
    webhooks_deliverer: Literal["process", "thread", "off"] = Field(
        default="process", description="process: each application process starts `python -m service webhooks "
                                       "deliver` as its child; thread: a thread of the application's process; off: "
                                       "run that command yourself. One deliverer is active at a time.")
    webhooks_poll_ms: int = Field(default=200, ge=10, le=60_000,
                                  description="How often the deliverer looks for due deliveries.")
    webhooks_lease_s: float = Field(default=30.0, ge=1, le=3600,
                                    description="How long the active deliverer's lease lasts without renewal.")
    webhooks_concurrency: int = Field(default=8, ge=1, le=64, description="Deliveries in flight at once.")
    webhooks_max_per_key: int = Field(default=20, ge=1, description="Most active subscriptions of one key.")
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60,
                                      description="A console session ends after this long without use.")
    console_max_hours: int = Field(default=12, ge=1, le=24 * 7, description="… and this long after its sign-in.")
    console_key_sign_in: bool = Field(default=True, description="Offer sign-in with an API key on the console's "
                                                                  "sign-in page (false: ProConnect only).")
    smtp_url: str | None = Field(
        default=None, pattern=r"^(smtp|smtp\+starttls|smtps)://([^@/]+@)?[^/@]+$",
        description="Where mails go: smtp://host:port, smtp+starttls://user:password@host:587 or "
                    "smtps://user:password@host:465; unset: each mail written as an .eml file in `mail_dir`.")
    mail_from: str = Field(default="ESMS numérique <ne-pas-repondre@esms-numerique.invalid>", max_length=200,
                           description="The mails' From: (its domain also names their Message-ID).")
    mail_dir: Path = Field(default=VAR_DIR / "mail", description="Without `smtp_url`: where mails are written.")
    mail_retry_schedule: str = Field(
        default="60,300,1800,7200,21600", pattern=r"^[0-9]+(,[0-9]+)*$",
        description="Seconds before each new attempt at a mail the server did not take; then `failed`.")
    mail_timeout_seconds: float = Field(default=30.0, gt=0, le=300,
                                        description="Longest wait for the SMTP server at each step.")
    mail_digest_hour: int = Field(default=9, ge=0, le=23,
                                  description="Hour (in `timezone`) from which each working day's digests are sent.")
    public_url: str | None = Field(
        default=None, pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="The service's address as people reach it (links, ProConnect's redirect URIs; else the "
                    "address of each request). Its scheme sets the console cookies' Secure flag: only an http:// "
                    "address (development) turns it off.")
    oidc_issuer: str | None = Field(
        default=None, pattern=r"^https?://[^?#]+$",
        description="ProConnect's issuer (discovery at {issuer}/.well-known/openid-configuration); unset: no "
                    "ProConnect sign-in.")
    oidc_client_id: str = Field(default="", description="The service's client id at ProConnect.")
    oidc_client_secret: str = Field(default="", description="… and its secret.")
    oidc_scopes: str = Field(default="openid email given_name usual_name siret idp_id",
                             description="Scopes asked for (space-separated).")
    oidc_acr_values: str = Field(default="", description="Acceptable `acr` values of the ID token (space-separated); "
                                                         "empty: none required.")
    oidc_timeout_s: float = Field(default=10.0, gt=0, le=60, description="Longest wait for ProConnect's answers.")

    @field_validator("rate_limits")
    @classmethod
    def _rate_limits_parse(cls, value: str) -> str:
        parse_rate_limits(value)  # ValueError: the setting is refused at start-up, saying why
        return value

    @property
    def rate_limit_rates(self) -> dict[str, Rate]:
        return parse_rate_limits(self.rate_limits)

    @property
    def webhooks_retry_delays(self) -> tuple[int, ...]:
        return _seconds(self.webhooks_retry_schedule)

    @property
    def mail_retry_delays(self) -> tuple[int, ...]:
        return _seconds(self.mail_retry_schedule)


def _seconds(schedule: str) -> tuple[int, ...]:
    """A retry schedule (``60,300,1800``, as its field's pattern checks) as its delays."""
    return tuple(int(part) for part in schedule.split(","))


@lru_cache
def get_settings() -> Settings:
    return Settings()
