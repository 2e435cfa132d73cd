"""Who calls: the API key behind ``Authorization: Bearer``, resolved through the principal cache.

``create_app`` sets ``app.state.authenticate`` to a ``KeyAuthenticator``; the HTTP layer
(``service.http.deps.current_principal``) parses the header and calls it, without knowing how
keys are stored.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from service.access.keys import KeyLookup, PrincipalCache, find_principal, hash_key, touch_last_used
from service.domain.access import Principal
from service.kit.db import Database
from service.models import utcnow


class KeyAuthenticator:
    """The principal of an API key's secret, or the ``(code, detail)`` of its refusal."""

    def __init__(self, database: Database, cache: PrincipalCache) -> None:
        self.database = database
        self.cache = cache

    async def __call__(self, secret: str, today: date, /) -> Principal | tuple[str, str]:
        key_hash = hash_key(secret)
        found = self.cache.get(key_hash)
        fresh = found is None
        if found is None:
            def lookup() -> KeyLookup | None:
                with Session(self.database.engine) as session:
                    return find_principal(session, key_hash, today)

            found = await run_in_threadpool(lookup)
            if found is None:
                return ("invalid_api_key", "Clé d'API inconnue.")
            self.cache.put(key_hash, found)
        refusal = found.refusal(today)
        if refusal is not None:
            return refusal
        if fresh:  # read from the database just now: its last use is known
            now = utcnow()
            if found.needs_touch(now):
                key_id = found.principal.key_id
                self.database.writer.submit(lambda session: touch_last_used(session, key_id, now))
        return found.principal
