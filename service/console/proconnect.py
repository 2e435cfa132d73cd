"""Signing in with ProConnect, the State's OpenID Connect federation: the authorization code flow
with PKCE (S256), ``state`` and ``nonce``, the ID token verified against the provider's JWKS
(RS256 or ES256; ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, ``acr``), userinfo read as JSON or
as a signed JWT (ProConnect answers JWT), sign-out through the provider's ``end_session_endpoint``.

The OAuth 2.0 exchanges go through Authlib's client, every JOSE operation through joserfc; nothing
here parses or checks a signature by hand. What the browser must keep between the redirect and
the return (``state``, ``nonce``, the PKCE verifier, where to go next) is a short-lived cookie of
random values that only this service reads; the provider keeps each code usable once.

The provider is configuration (``SERVICE_OIDC_ISSUER``), not input: its addresses come from its
discovery document, fetched from the issuer and checked to name that issuer.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from email_validator import EmailNotValidError, validate_email
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from service.kit.settings import Settings

#: Signature algorithms accepted on ID tokens and userinfo (ProConnect signs RS256 or ES256).
ALGORITHMS = ["RS256", "ES256"]
#: How long discovery and keys are reused before being fetched again (a key unknown to the cached
#: set is fetched at once).
METADATA_SECONDS = 3600.0
#: Clock skew tolerated on ``exp`` and ``iat``.
LEEWAY_SECONDS = 60
#: The pending sign-in's cookie lives this long: the person has this long at the provider.
PENDING_SECONDS = 600


class ProviderRefused(Exception):
    """The sign-in cannot go on: a stable ``code``, a French ``message`` and the page's status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


#: ``state``, ``nonce`` and the PKCE verifier as this service draws them (``token_urlsafe``).
_RANDOM = re.compile(r"[A-Za-z0-9_-]{43,64}")


@dataclass(frozen=True, slots=True)
class Pending:
    """What the browser keeps between the redirect to the provider and its return."""

    state: str
    nonce: str
    verifier: str
    back: str

    def cookie(self) -> str:
        back = base64.urlsafe_b64encode(self.back.encode("utf-8")).decode("ascii").rstrip("=")
        return ".".join((self.state, self.nonce, self.verifier, back))

    @classmethod
    def parse(cls, value: str | None) -> Pending | None:
        parts = (value or "").split(".")
        if len(parts) != 4 or len(value or "") > 1000 or not all(_RANDOM.fullmatch(part) for part in parts[:3]):
            return None
        try:
            back = base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4)).decode("utf-8")
        except (ValueError, UnicodeError):
            return None
        return cls(parts[0], parts[1], parts[2], back)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says signed in, once every check passed."""

    issuer: str
    subject: str
    email: str
    given_name: str
    usual_name: str
    siret: str | None
    acr: str | None
    id_token: str


def _unavailable(what: str) -> ProviderRefused:
    return ProviderRefused("oidc_unavailable", f"ProConnect ne répond pas ({what}) : réessayez dans quelques instants.",
                           502)


class Provider:
    """One OpenID provider: its discovery document and keys, cached; the flow's steps."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.settings = settings
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        # One transport for every exchange with the provider: its TLS context is made once
        # (making one costs ~25 ms) and its connections are kept alive between sign-ins. The
        # clients over it are not closed one by one (that would close it): it is, at shut-down.
        self._transport: httpx2.AsyncHTTPTransport | None = None

    def _shared(self) -> httpx2.AsyncHTTPTransport:
        if self._transport is None:
            self._transport = httpx2.AsyncHTTPTransport(proxy=_proxy_for(self.issuer))
        return self._transport

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    @property
    def acr_values(self) -> list[str]:
        return self.settings.oidc_acr_values.split()

    def _client(self, redirect_uri: str | None = None, **kwargs: Any) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(self.settings.oidc_client_id, self.settings.oidc_client_secret,
                                 scope=self.settings.oidc_scopes, redirect_uri=redirect_uri,
                                 code_challenge_method="S256", timeout=self.settings.oidc_timeout_s,
                                 follow_redirects=False, transport=self._shared(), **kwargs)

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            http = httpx2.AsyncClient(timeout=self.settings.oidc_timeout_s, follow_redirects=False,
                                      transport=self._shared())
            answer = await http.get(url, headers={"Accept": "application/json"})
            answer.raise_for_status()
            found = answer.json()
        except (httpx2.HTTPError, ValueError):
            raise _unavailable(what) from None
        if not isinstance(found, dict):
            raise _unavailable(what)
        return found

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._fetched_at > METADATA_SECONDS:
            found = await self._get_json(f"{self.issuer}/.well-known/openid-configuration", "découverte")
            needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
            if str(found.get("issuer", "")).rstrip("/") != self.issuer or not all(
                    isinstance(found.get(name), str) for name in needed):
                raise _unavailable("document de découverte incohérent")
            self._metadata, self._keys, self._fetched_at = found, None, time.monotonic()
        return self._metadata

    async def keys(self, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            found = await self._get_json((await self.metadata())["jwks_uri"], "clés")
            try:
                self._keys = KeySet.import_key_set(found)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError):
                raise _unavailable("clés illisibles") from None
        return self._keys

    async def authorization_url(self, redirect_uri: str, back: str) -> tuple[str, Pending]:
        """Where to send the browser, and what it must bring back."""
        endpoint = (await self.metadata())["authorization_endpoint"]
        pending = Pending(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48), back)
        extra: dict[str, str] = {}
        if self.acr_values:
            extra["claims"] = json.dumps({"id_token": {"acr": {"essential": True, "values": self.acr_values}}},
                                         separators=(",", ":"))
        url, _ = self._client(redirect_uri).create_authorization_url(
            endpoint, state=pending.state, nonce=pending.nonce, code_verifier=pending.verifier, **extra)
        return url, pending

    async def identity(self, pending: Pending, *, code: str, redirect_uri: str) -> Identity:
        """The code exchanged, the ID token and userinfo verified: who signed in."""
        metadata = await self.metadata()
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        client = self._client(redirect_uri, token_endpoint_auth_method=method)
        try:
            token = await client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=pending.verifier,
                                             grant_type="authorization_code")
        except OAuthError:
            raise ProviderRefused("oidc_code_refused", "ProConnect a refusé le code de connexion (déjà utilisé "
                                  "ou expiré) : recommencez la connexion.") from None
        except (httpx2.HTTPError, ValueError, TypeError):  # unreachable, or not a token answer (a gateway's page)
            raise _unavailable("jeton") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderRefused("oidc_id_token_invalid", "ProConnect n'a pas fourni de jeton d'identité.")
        claims = await self._verified(id_token, "oidc_id_token_invalid", "Le jeton d'identité", id_token=True,
                                      nonce=pending.nonce)
        self._check_acr(claims)
        info = await self._userinfo(client, metadata, str(token.get("access_token", "")), claims["sub"])
        email = _email(info.get("email") or claims.get("email"))
        subject = claims["sub"]
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise ProviderRefused("oidc_id_token_invalid", "L'identifiant (sub) transmis par ProConnect n'est pas "
                                  "utilisable : recommencez la connexion.")
        siret = info.get("siret") or claims.get("siret")
        return Identity(issuer=self.issuer, subject=subject, email=email,
                        given_name=_text(info.get("given_name") or claims.get("given_name")),
                        usual_name=_text(info.get("usual_name") or info.get("family_name")
                                         or claims.get("usual_name")),
                        siret=siret if isinstance(siret, str) else None,
                        acr=claims.get("acr"), id_token=id_token)

    async def _verified(self, value: str, code: str, what: str, *, id_token: bool = False,
                        **expected: str) -> dict[str, Any]:
        """The claims of a JWT signed by the provider, its issuer, audience and times checked (an
        ID token must carry ``exp`` and ``iat``, and name this client in ``azp`` when it has
        several audiences: OpenID Connect Core 3.1.3.7)."""
        try:
            try:
                token = jwt.decode(value, await self.keys(), algorithms=ALGORITHMS)
            except JoseError:
                token = jwt.decode(value, await self.keys(refresh=True), algorithms=ALGORITHMS)  # a key rotated
            options: dict[str, Any] = {name: {"essential": True, "value": wanted} for name, wanted in expected.items()}
            if id_token:
                options |= {"exp": {"essential": True}, "iat": {"essential": True}}
                audiences = token.claims.get("aud")
                if isinstance(audiences, list) and len(audiences) > 1:
                    options["azp"] = {"essential": True, "value": self.settings.oidc_client_id}
            jwt.JWTClaimsRegistry(leeway=LEEWAY_SECONDS, iss={"essential": True, "value": self.issuer},
                                  aud={"essential": True, "value": self.settings.oidc_client_id},
                                  sub={"essential": True}, **options).validate(token.claims)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            reason = getattr(exc, "description", None) or getattr(exc, "error", None) or type(exc).__name__
            raise ProviderRefused(code, f"{what} de ProConnect n'est pas valide ({reason}) : recommencez la "
                                  "connexion.") from None
        return dict(token.claims)

    def _check_acr(self, claims: dict[str, Any]) -> None:
        if self.acr_values and claims.get("acr") not in self.acr_values:
            raise ProviderRefused("oidc_acr_insufficient", "Le niveau d'authentification obtenu ("
                                  f"{claims.get('acr') or 'aucun'}) ne suffit pas : ce service demande "
                                  f"{' ou '.join(self.acr_values)}. Reconnectez-vous avec un moyen d'authentification "
                                  "plus fort.", 403)

    async def _userinfo(self, client: AsyncOAuth2Client, metadata: dict[str, Any], access_token: str,
                        subject: str) -> dict[str, Any]:
        endpoint = metadata.get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return {}
        try:
            # the token was just issued: sent as is (ProConnect's live a minute, within the client's
            # default leeway, which would count them as expired)
            answer = await client.request("GET", endpoint, withhold_token=True,
                                          headers={"Authorization": f"Bearer {access_token}"})
        except httpx2.HTTPError:
            raise _unavailable("informations de l'utilisateur") from None
        if answer.status_code != 200:
            raise _unavailable(f"informations de l'utilisateur, statut {answer.status_code}")
        if answer.headers.get("content-type", "").split(";")[0].strip() == "application/jwt":
            info = await self._verified(answer.text.strip(), "oidc_userinfo_invalid", "La réponse userinfo")
        else:
            try:
                read = answer.json()
            except ValueError:
                read = None
            if not isinstance(read, dict):
                raise ProviderRefused("oidc_userinfo_invalid", "La réponse userinfo de ProConnect est illisible.")
            info = read
        if info.get("sub") != subject:
            raise ProviderRefused("oidc_userinfo_invalid", "La réponse userinfo de ProConnect ne concerne pas la "
                                  "personne du jeton d'identité.")
        return info

    async def end_session_url(self, id_token: str, state: str, post_logout_redirect_uri: str) -> str | None:
        """The provider's sign-out address for this session, or ``None`` when it has none."""
        endpoint = (await self.metadata()).get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        query = urlencode({"id_token_hint": id_token, "state": state,
                           "post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def _proxy_for(issuer: str) -> str | None:
    """The outbound proxy of the environment (``HTTPS_PROXY``, ``NO_PROXY``…) for the provider's
    host, as an HTTP client without a transport of its own would use it."""
    url = urlsplit(issuer)
    if url.hostname is None or urllib.request.proxy_bypass(url.hostname):
        return None
    return urllib.request.getproxies().get(url.scheme)


def _email(value: Any) -> str:
    """The address the provider vouches for, checked as the API checks invitations' (lower-cased)."""
    try:
        if not isinstance(value, str):
            raise EmailNotValidError
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ProviderRefused("oidc_email_missing", "ProConnect n'a pas transmis d'adresse électronique utilisable : "
                              "vérifiez celle que connaît votre fournisseur d'identité.") from None


def _text(value: Any) -> str:
    return value.strip()[:200] if isinstance(value, str) else ""
