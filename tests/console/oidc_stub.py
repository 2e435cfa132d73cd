"""An OpenID provider on loopback that answers as ProConnect does (ES256 or RS256 ID tokens,
userinfo as a signed JWT), checks what a provider checks (client secret, redirect URI, PKCE S256,
each code used once), and can be told to answer wrongly: another nonce, another audience, an
expired token, a key it never published, a weaker ``acr``.

``oidc-provider-mock`` (tests/console/test_proconnect.py) is the provider we did not write; this
one gives the tests the answers that provider cannot give (ES256, JWT userinfo, forged tokens).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests.pg_cluster import free_port

CLIENT_ID, CLIENT_SECRET = "esms-console", "secret-de-test"


@dataclass
class Stub:
    issuer: str
    keys: dict[str, Any]
    #: Claims of the next person to sign in (``sub`` and ``email`` at least).
    user: dict[str, Any] = field(default_factory=dict)
    alg: str = "ES256"
    #: Forgeries of the next ID token: claims replaced or left out (None), a secret key.
    id_token_changes: dict[str, Any] = field(default_factory=dict)
    sign_with_unpublished_key: bool = False
    #: The token endpoint answers a gateway's HTML page instead of a token.
    token_answer_html: bool = False
    userinfo_as_jwt: bool = True
    #: What the service sent: the authorization requests and token requests, in order.
    authorizations: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        kid = kid or ("es-1" if self.alg == "ES256" else "rs-1")
        return jwt.encode({"alg": self.alg, "kid": kid, "typ": "JWT"}, claims, self.keys[kid])

    def public_keys(self) -> dict[str, Any]:
        published = [key for kid, key in self.keys.items() if kid != "unpublished"]
        return KeySet(published).as_dict(private=False)


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: bytes, kind: str = "application/json",
                    headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: Any) -> None:
            self._answer(status, json.dumps(value).encode())

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._json(200, {
                    "issuer": stub.issuer, "authorization_endpoint": f"{stub.issuer}/authorize",
                    "token_endpoint": f"{stub.issuer}/token", "userinfo_endpoint": f"{stub.issuer}/userinfo",
                    "jwks_uri": f"{stub.issuer}/jwks", "end_session_endpoint": f"{stub.issuer}/session/end",
                    "id_token_signing_alg_values_supported": ["ES256", "RS256"],
                    "userinfo_signing_alg_values_supported": ["ES256", "RS256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post"],
                    "response_types_supported": ["code"], "subject_types_supported": ["public"]})
            elif url.path == "/jwks":
                self._json(200, stub.public_keys())
            elif url.path == "/authorize":
                stub.authorizations.append(query)
                code = secrets.token_urlsafe(16)
                stub.codes[code] = {"query": query, "user": dict(stub.user), "used": False}
                target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                self._answer(302, b"", headers={"Location": target})
            elif url.path == "/userinfo":
                given = self.headers.get("Authorization", "")
                token = stub.tokens.get(given.removeprefix("Bearer "))
                if token is None:
                    self._json(401, {"error": "invalid_token"})
                    return
                claims = {**token["user"], "iss": stub.issuer, "aud": CLIENT_ID}
                if stub.userinfo_as_jwt:
                    self._answer(200, stub.sign(claims).encode(), "application/jwt")
                else:
                    self._json(200, token["user"])
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            stub.token_requests.append(form)
            if self.path != "/token":
                self._json(404, {"error": "not_found"})
                return
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                self._json(401, {"error": "invalid_client"})
                return
            grant = stub.codes.get(form.get("code", ""))
            if grant is None or grant["used"]:
                self._json(400, {"error": "invalid_grant", "error_description": "code inconnu ou déjà utilisé"})
                return
            grant["used"] = True
            query = grant["query"]
            challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest()) \
                .rstrip(b"=").decode()
            if query.get("code_challenge_method") != "S256" or challenge != query.get("code_challenge") \
                    or form.get("redirect_uri") != query.get("redirect_uri"):
                self._json(400, {"error": "invalid_grant", "error_description": "PKCE ou redirect_uri"})
                return
            now = int(time.time())
            claims = {"iss": stub.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 60,
                      "nonce": query.get("nonce"), **{k: v for k, v in grant["user"].items() if k in ("sub", "acr")}}
            for name, value in stub.id_token_changes.items():  # None: the claim left out
                if value is None:
                    claims.pop(name, None)
                else:
                    claims[name] = value
            if stub.token_answer_html:
                self._answer(200, b"<html><body>Maintenance</body></html>", "text/html")
                return
            access = secrets.token_urlsafe(16)
            stub.tokens[access] = grant
            id_token = stub.sign(claims, kid="unpublished" if stub.sign_with_unpublished_key else None)
            self._json(200, {"access_token": access, "token_type": "Bearer", "expires_in": 60, "id_token": id_token})

    return Handler


@contextmanager
def running() -> Iterator[Stub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    keys = {"es-1": ECKey.generate_key("P-256", parameters={"kid": "es-1", "alg": "ES256", "use": "sig"}),
            "rs-1": RSAKey.generate_key(2048, parameters={"kid": "rs-1", "alg": "RS256", "use": "sig"}),
            "unpublished": ECKey.generate_key("P-256", parameters={"kid": "es-1", "alg": "ES256"})}
    stub = Stub(issuer, keys)
    server.RequestHandlerClass = _handler(stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


# --- oidc-provider-mock, the provider we did not write ---------------------------------------------

@contextmanager
def mock_provider() -> Iterator[str]:
    """``python -m oidc_provider_mock`` on a free loopback port (nonces required); its issuer."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "oidc_provider_mock", "--port", str(port),
                                "--require-nonce", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    issuer = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("oidc-provider-mock did not start")
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


def mock_user(issuer: str, sub: str, **claims: Any) -> None:
    """Tell the provider who ``sub`` is (its claims, custom ones such as ``acr`` and ``siret`` too)."""
    assert httpx.put(f"{issuer}/users/{sub}", json=claims).status_code == 204
