"""The console in a real browser: Debian's Chromium driven by Playwright, against the service on
loopback. Each flow a person follows — sign in, decide on a version, upload a proof, answer a
proof request, record a control outcome, and the review with the keyboard only — with a
screenshot of every page (``tests/console/screenshots/``) and axe-core run on each: no serious
or critical violation."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.access.keys import create_api_key
from service.domain.access import Role
from tests import factories, proof_files
from tests.conftest import LiveService, rows_for, running_service
from tests.console import oidc_stub

playwright_api = pytest.importorskip("playwright.sync_api")

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = HERE / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Without the background services' flags, Chromium tries to reach Google's hosts at every start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() or not AXE.exists(),
                                reason="Chromium (apt chromium) and axe-core (npm, tests/console) are installed by "
                                       "scripts/test.sh")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # The pages forbid inline scripts (CSP); the test lets itself inject axe-core.
    context = browser.new_context(bypass_csp=True, locale="fr-FR", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


class Story:
    """A funding request in région 75 (Nouvelle-Aquitaine) with two VA versions and a fin de projet
    one, and a key per role."""

    def __init__(self, live: LiveService) -> None:
        self.live = live
        self.http = httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {live.admin_key}"})
        today = datetime.now(UTC).date()
        self.req = factories.funding_request(establishments=[
            {"finess": factories.finess("24"), "name": "EHPAD Les Tilleuls", "category": "500"},
            {"finess": factories.finess("33"), "name": "SSIAD Bordeaux", "category": "354"}])
        self.ref = self.req["galis_ref"]
        assert self.http.post("/v1/funding-requests", json=self.req).status_code == 201
        for kind, on in (("va_validated", "2024-03-01"), ("vsr_validated", (today - timedelta(days=20)).isoformat())):
            assert self.http.post(f"/v1/funding-requests/{self.ref}/events",
                                  json={"type": kind, "date": on}).status_code == 201
        self.keys = {role: self.key(role, **scope) for role, scope in (
            ("ars_reviewer", {"region_code": "75", "label": "ARS Île-de-France"}),
            ("cnsa_auditor", {"label": "Auditrice CNSA"}),
            ("porteur", {"siret": self.req["siret"], "label": "Association de test"}))}
        self.first = self.push("va", rows_for(self.req))
        self.second = self.push("va", rows_for(self.req, dmp_fed=55))
        self.final = self.push("fin_projet", rows_for(self.req, dmp_fed=60))

    def key(self, role: str, **scope: Any) -> str:
        database = self.live.app.state.database
        return database.writer.run_sync(  # type: ignore[no-any-return]
            lambda session: create_api_key(session, role=Role(role), **scope)[1])

    def push(self, milestone: str, rows: list[dict[str, Any]]) -> str:
        response = self.http.post(f"/v1/funding-requests/{self.ref}/submissions",
                                  json={"milestone": milestone, "rows": rows})
        assert response.status_code == 201, response.text
        return response.json()["id"]  # type: ignore[no-any-return]


@pytest.fixture
def story(live_service: LiveService) -> Iterator[Story]:
    told = Story(live_service)
    yield told
    told.http.close()


def check(page: Any, name: str) -> None:
    """Screenshot the page, and run axe-core on it: no serious or critical violation."""
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    grave = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
              "nodes": [n["target"] for n in v["nodes"]][:5]} for v in violations
             if v["impact"] in ("serious", "critical")]
    assert grave == [], json.dumps(grave, ensure_ascii=False, indent=1)
    assert page.evaluate("document.documentElement.lang") == "fr"


def sign_in(page: Any, live: LiveService, key: str) -> None:
    page.goto(f"{live.base_url}/console/")
    page.get_by_label("Clé d'API").fill(key)
    page.get_by_role("button", name="Se connecter").click()


def test_sign_in_refuses_an_unknown_key_then_signs_in_and_out(page: Any, story: Story) -> None:
    page.goto(f"{story.live.base_url}/console/examen")  # no session: to the sign-in page, then back here
    assert "/console/connexion" in page.url
    check(page, "01-connexion")
    page.get_by_label("Clé d'API").fill("esms_pas-une-vraie-cle")
    page.get_by_role("button", name="Se connecter").click()
    assert page.get_by_role("alert").inner_text().startswith("Clé d'API inconnue")
    check(page, "02-connexion-refusee")
    page.get_by_label("Clé d'API").fill(story.keys["ars_reviewer"])
    page.get_by_role("button", name="Se connecter").click()
    assert page.url.endswith("/console/examen")
    cookie = next(c for c in page.context.cookies() if c["name"] == "esms_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert story.keys["ars_reviewer"] not in cookie["value"]
    page.get_by_role("button", name="Se déconnecter").click()
    assert "/console/connexion" in page.url
    page.goto(f"{story.live.base_url}/console/examen")
    assert "/console/connexion" in page.url  # the session is over


def test_an_ars_reviewer_decides_on_a_version(page: Any, story: Story) -> None:
    sign_in(page, story.live, story.keys["ars_reviewer"])
    assert page.get_by_role("heading", level=1).inner_text() == "Versions à examiner"
    check(page, "03-examen")
    page.get_by_role("link", name=story.ref).first.click()
    heading = page.get_by_role("heading", level=1).inner_text()
    assert story.ref in heading
    version = page.url.rsplit("/", 1)[1]
    assert version in (story.second, story.final)
    page.goto(f"{story.live.base_url}/console/versions/{story.second}")
    assert page.get_by_text("Changements depuis la version précédente").is_visible()
    for figure in ("40", "55"):  # E before and after
        assert page.get_by_role("cell", name=figure, exact=True).first.is_visible()
    check(page, "04-version")
    with page.expect_response(lambda r: r.url.endswith("/synthese.pdf")) as answered:
        page.evaluate("url => fetch(url)", f"/console/versions/{story.second}/synthese.pdf")
    assert answered.value.status == 200 and answered.value.headers["content-type"] == "application/pdf"

    page.get_by_label("Rejetée").check()
    page.get_by_role("button", name="Enregistrer la décision").click()  # no comment: refused, said why
    assert page.get_by_role("alert").is_visible()
    assert "comment_required" in page.content()
    check(page, "05-decision-refusee")
    page.go_back()
    page.get_by_label("Corrections demandées").check()
    page.get_by_label("Commentaire").fill("Le nombre de DMP alimentés a changé : joignez le rapport.")
    page.get_by_role("button", name="Enregistrer la décision").click()
    assert page.get_by_role("status").inner_text() == "Décision enregistrée."
    assert "corrections demandées" in page.content()
    check(page, "06-decision-enregistree")
    review = story.http.get(f"/v1/submissions/{story.second}").json()["reviews"][0]
    assert review["decision"] == "changes_requested" and review["comment"].startswith("Le nombre de DMP")


def test_the_review_flow_with_the_keyboard_only(page: Any, story: Story) -> None:
    page.goto(f"{story.live.base_url}/console/connexion")

    def tab_to(selector: str, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"{selector} cannot be reached with Tab")

    tab_to("#api_key")
    page.keyboard.type(story.keys["ars_reviewer"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/examen")
    tab_to(f'a[href="/console/versions/{story.second}"]')
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/console/versions/{story.second}")
    tab_to("#decision_accepted")
    page.keyboard.press("Space")
    assert page.is_checked("#decision_accepted")
    tab_to("#comment")
    page.keyboard.type("Chiffres cohérents avec le rapport signé.")
    tab_to('form[action$="/decision"] button[type="submit"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**?fait=*")
    assert page.get_by_role("status").inner_text() == "Décision enregistrée."
    check(page, "07-clavier-decision")
    assert story.http.get(f"/v1/submissions/{story.second}").json()["reviews"][0]["decision"] == "accepted"


def test_a_cnsa_auditor_controls_and_a_porteur_answers(page: Any, story: Story, tmp_path: Path) -> None:
    sign_in(page, story.live, story.keys["cnsa_auditor"])
    assert page.get_by_role("heading", level=1).inner_text() == "File de contrôle"
    check(page, "08-controle")
    page.goto(f"{story.live.base_url}/console/versions/{story.final}")
    page.get_by_role("link", name="Dossier de contrôle").click()
    case_url = page.url
    page.get_by_role("button", name="Prendre en charge").click()
    assert page.get_by_role("status").inner_text() == "Dossier pris en charge."
    finess = story.req["establishments"][0]["finess"]
    page.get_by_label("Établissement (FINESS)").select_option(finess)
    page.get_by_label("Ce qui est demandé").fill("Le rapport signé du nombre de DUI actifs, s'il vous plaît.")
    page.get_by_role("button", name="Demander la preuve").click()
    assert page.get_by_role("status").inner_text().startswith("Preuve demandée")
    assert "reste 47 h" in page.content()
    check(page, "09-dossier-demande")
    bundle = page.context.request.get(f"{case_url}/dossier-de-preuve.zip")
    assert bundle.status == 200 and bundle.body()[:2] == b"PK"
    page.get_by_role("button", name="Se déconnecter").click()

    sign_in(page, story.live, story.keys["porteur"])
    assert page.get_by_role("heading", level=1).inner_text() == "Mes obligations"
    assert "répondre à une demande de preuve" in page.content()
    check(page, "10-obligations")
    page.get_by_role("link", name=story.ref).first.click()
    check(page, "11-versions")
    page.get_by_role("link", name="Version 1").first.click()
    page.goto(f"{story.live.base_url}/console/versions/{story.final}")
    proof = tmp_path / "rapport-dui.pdf"
    proof.write_bytes(proof_files.pdf())
    page.get_by_label("Établissement (FINESS)").select_option(finess)
    page.get_by_label("Date de mesure").fill("2024-04-02")
    page.get_by_label("Début de période").fill("2024-01-01")
    page.get_by_label("Fin de période").fill("2024-03-31")
    page.get_by_label("Signataire (nom et fonction)").fill("Marie Dupont, directrice générale")
    page.get_by_label("Fichier (PDF non modifiable, PNG ou JPEG)").set_input_files(str(proof))
    page.get_by_role("button", name="Déposer la preuve").click()
    assert page.get_by_role("status").inner_text() == "Preuve déposée."
    assert "rapport-dui.pdf" in page.content()
    check(page, "12-preuve-deposee")
    page.goto(f"{story.live.base_url}/console/demandes/{story.ref}")
    page.get_by_role("link", name="Les messages de la demande").click()
    page.get_by_label("Votre message").fill("Bonjour,\nLe rapport signé est déposé.")
    page.get_by_role("button", name="Envoyer").click()
    assert page.get_by_role("status").inner_text() == "Message envoyé."
    assert "Le rapport signé est déposé." in page.content() and "Association de test" in page.content()
    check(page, "12b-messages")
    page.get_by_role("button", name="Se déconnecter").click()

    sign_in(page, story.live, story.keys["cnsa_auditor"])
    page.goto(case_url)
    assert "preuve déposée le" in page.content()  # the upload answered the request
    page.get_by_label("Non conforme").check()
    page.get_by_label("Motifs").fill("Le rapport ne montre pas la période déclarée.")
    page.get_by_role("button", name="Enregistrer la conclusion").click()
    assert page.get_by_role("status").inner_text() == "Conclusion enregistrée : dossier clos."
    check(page, "13-dossier-clos")
    cases = story.http.get("/v1/control-queue", params={"status": "closed"}).json()["items"]
    assert [c["outcome"] for c in cases if c["submission_id"] == story.final] == ["non_compliant"]


def test_pages_outside_the_scope_answer_404(page: Any, story: Story) -> None:
    other = story.key("ars_reviewer", region_code="84")
    sign_in(page, story.live, other)
    response = page.goto(f"{story.live.base_url}/console/versions/{story.second}")
    assert response.status == 404
    assert "submission_not_found" in page.content()
    check(page, "14-hors-perimetre")
    assert page.goto(f"{story.live.base_url}/console/controle").status == 403  # not the CNSA


def test_a_cnsa_auditor_signs_in_and_out_with_proconnect(page: Any, tmp_path: Path) -> None:
    """Through oidc-provider-mock's own pages. The service is reached as ``localhost`` and the
    provider as ``127.0.0.1``: two sites, so the return from the provider is a cross-site
    navigation, as it is from ProConnect."""
    with oidc_stub.mock_provider() as issuer, running_service(
            tmp_path, oidc_issuer=issuer, oidc_client_id=oidc_stub.CLIENT_ID,
            oidc_client_secret=oidc_stub.CLIENT_SECRET, oidc_acr_values="eidas1",
            oidc_scopes="openid email profile", public_host="localhost") as live, \
            httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {live.admin_key}"}) as http:
        [cnsa] = http.get("/v1/organisations", params={"kind": "cnsa"}).json()["items"]
        assert http.post(f"/v1/organisations/{cnsa['id']}/people",
                         json={"email": "lea.moreau@cnsa.fr", "role": "manager"}).status_code == 201
        oidc_stub.mock_user(issuer, "agent-cnsa", email="lea.moreau@cnsa.fr", given_name="Léa", usual_name="Moreau",
                            acr="eidas1")
        base = live.base_url.replace("127.0.0.1", "localhost")

        page.goto(f"{base}/console/controle")
        assert "/console/connexion" in page.url
        check(page, "20-connexion-proconnect")
        page.get_by_role("link", name="S'identifier avec ProConnect").click()
        assert page.url.startswith(f"{issuer}/oauth2/authorize")
        page.fill('input[name="sub"]', "agent-cnsa")  # the provider's own page
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(f"{base}/console/controle")
        assert "Léa Moreau (CNSA)" in page.locator("header").inner_text()
        check(page, "21-controle-apres-proconnect")

        page.get_by_role("button", name="Se déconnecter").click()
        assert page.url.startswith(f"{issuer}/oauth2/end_session")
        page.get_by_role("button", name="End session").click()  # the provider's own page
        page.wait_for_url(re.compile(r".*/console/connexion\?fait=.*"))
        assert "déconnecté(e) de la console et de ProConnect" in page.locator("main").inner_text()
        page.goto(f"{base}/console/controle")
        assert "/console/connexion" in page.url
