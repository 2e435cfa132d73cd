"""What mails need to know of the service, from its settings."""

from __future__ import annotations

from dataclasses import dataclass

from service.kit.settings import Settings


@dataclass(frozen=True, slots=True)
class Mailing:
    """What mails need to know of the service: the address people reach it at (links), the time
    zone of the deadlines they state, the hour of the daily digest."""

    public_url: str
    zone: str
    digest_hour: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailing:
        return cls(public_url=(settings.public_url or "http://localhost:8000").rstrip("/"), zone=settings.timezone,
                   digest_hour=settings.mail_digest_hour)

    def link(self, path: str) -> str:
        return f"{self.public_url}{path}"
