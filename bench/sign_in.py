"""Console sign-in benchmark: 100 sign-ins through ProConnect against a sign-in with an API key,
in the same run, on the service under uvicorn (SQLite) with ``oidc-provider-mock`` as provider.

    python bench/sign_in.py [--count 100]

For each ProConnect sign-in it times the service's own steps — the redirect to the provider
(``/console/connexion/proconnect``, discovery cached after the first) and the return
(``/retour``: the code exchanged, the ID token verified against the JWKS, userinfo read, the
person linked, the session opened) — and the whole trip with the provider's pages. The baseline
is the key sign-in form's POST (the key looked up, the session opened), timed in turn with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.push import cli_key, save_results, start_server, stop  # noqa: E402
from tests.console.oidc_stub import mock_provider, mock_user  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def sign_in_with_proconnect(base: str, sub: str) -> dict[str, float]:
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        began = time.perf_counter()
        start = browser.get("/console/connexion/proconnect")
        redirect = time.perf_counter() - began
        authorize = start.headers["location"]
        assert browser.get(authorize).status_code == 200
        chosen = browser.post(authorize, data={"sub": sub})
        back = urlsplit(chosen.headers["location"])
        returned = time.perf_counter()
        answer = browser.get(f"{back.path}?{back.query}")
        done = time.perf_counter()
        assert answer.status_code == 200 and "esms_console" in browser.cookies, answer.text[:300]
    return {"redirect": redirect * 1000, "return": (done - returned) * 1000, "trip": (done - began) * 1000}


def sign_in_with_key(base: str, key: str) -> float:
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        form = browser.get("/console/connexion")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        began = time.perf_counter()
        answer = browser.post("/console/connexion", data={"csrf_token": token, "api_key": key})
        took = time.perf_counter() - began
        assert answer.status_code == 303, answer.text[:300]
    return took * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="esms-bench-sign-in-"))
    try:
        with mock_provider() as issuer:
            env = {**os.environ, "SERVICE_DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
                   "SERVICE_OIDC_ISSUER": issuer, "SERVICE_OIDC_CLIENT_ID": "esms-bench",
                   "SERVICE_OIDC_CLIENT_SECRET": "bench", "SERVICE_OIDC_SCOPES": "openid email profile",
                   "SERVICE_WEBHOOKS_DELIVERER": "off"}
            subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                           capture_output=True)
            admin = cli_key(env, "--role", "admin")
            cnsa = cli_key(env, "--role", "cnsa_auditor", "--label", "banc d'essai")
            proc, base = start_server("service.main:app", env)
            try:
                with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}) as http:
                    [org] = http.get("/v1/organisations", params={"kind": "cnsa"}).json()["items"]
                    for n in range(args.count):
                        email = f"agent{n}@cnsa.example"
                        assert http.post(f"/v1/organisations/{org['id']}/people",
                                         json={"email": email, "role": "member"}).status_code == 201
                        mock_user(issuer, f"agent-{n}", email=email, given_name="Agent", usual_name=str(n))
                sign_in_with_proconnect(base, "agent-0")  # discovery and keys fetched once, then cached
                sign_in_with_key(base, cnsa)
                trips, keys = [], []
                for n in range(1, args.count):
                    trips.append(sign_in_with_proconnect(base, f"agent-{n}"))
                    keys.append(sign_in_with_key(base, cnsa))
                again = [sign_in_with_proconnect(base, f"agent-{n}") for n in range(1, args.count)]  # known people
            finally:
                stop(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows = [("key sign-in (baseline)", keys),
            ("ProConnect: redirect", [t["redirect"] for t in trips]),
            ("ProConnect: return, first time", [t["return"] for t in trips]),
            ("ProConnect: return, known", [t["return"] for t in again]),
            ("ProConnect: whole trip", [t["trip"] for t in trips])]
    base_p50 = statistics.median(keys)
    print(f"\n{len(keys)} sign-ins of each kind, uvicorn (SQLite), oidc-provider-mock on loopback, "
          f"{os.cpu_count()} cores\n")
    print(f"{'step':<34}{'p50 ms':>9}{'p99 ms':>9}{'p50 × key':>11}")
    results: list[dict[str, object]] = []
    for name, values in rows:
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        results.append({"step": name, "p50": p50, "p99": p99, "count": len(values)})
        print(f"{name:<34}{p50:>9.1f}{p99:>9.1f}{p50 / base_p50:>10.1f}×")
    save_results("sign_in", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
