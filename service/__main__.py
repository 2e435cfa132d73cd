"""Command line of the service.

    python -m service create-key --role ROLE [--region CODE] [--siret SIRET] [--galis-ref REF ...] [--label TEXT]
                                 [--expires-on YYYY-MM-DD] [--organisation ID] [--manager]
    python -m service revoke-key PREFIX   # the key's printed prefix, e.g. esms_6Lu3dEU
    python -m service demo          # demo data and keys (embedded default)
    python -m service openapi       # print the OpenAPI description
    python -m service sweep-proofs [--grace-seconds N]   # remove proof files no proof row refers to
    python -m service finess import FILE   # import the public FINESS extract as a registry snapshot
    python -m service audit verify [--checkpoint FILE]  # events, chain before the log, log (exit 1 on a problem)
    python -m service webhooks deliver [--once]   # the webhook deliverer, alone (SERVICE_WEBHOOKS_DELIVERER=off)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session

from service.domain.access import Role
from service.domain.errors import ValidationFailed
from service.kit.db import create_db_engine
from service.kit.mailing import Mailing
from service.kit.settings import VAR_DIR, get_settings


def _session() -> Session:
    return Session(create_db_engine(get_settings().database_url, pool_size=1, write=True), expire_on_commit=False)


def _today() -> date:
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date invalide « {text} » (attendu AAAA-MM-JJ)") from None


def cmd_create_key(args: argparse.Namespace) -> int:
    from service.access.keys import create_api_key
    from service.models import Organisation

    try:
        with _session() as session, session.begin():
            key, secret = create_api_key(session, role=Role(args.role) if args.role else None,
                                         region_code=args.region, siret=args.siret, galis_refs=args.galis_ref,
                                         label=args.label, expires_on=args.expires_on, today=_today(),
                                         organisation_id=args.organisation, manager=args.manager)
            owner = session.get(Organisation, key.organisation_id)
            organisation = f"{key.organisation_id} ({owner.name if owner else '?'})"
    except ValidationFailed as exc:
        for issue in exc.issues:
            print(f"erreur : {issue.message}", file=sys.stderr)
        return 2
    scope = key.region_code or key.siret or ", ".join(args.galis_ref or ()) or "national"
    expiry = f", refusée à partir du {key.expires_on.isoformat()}" if key.expires_on else ""
    manager = ", gestionnaire" if key.manager else ""
    print(f"Clé créée : rôle {key.role}{manager}, organisation {organisation}, périmètre {scope}, "
          f"préfixe {key.prefix}{expiry}. "
          "Elle ne sera plus affichée : conservez-la.")
    print(secret)
    return 0


def cmd_revoke_key(args: argparse.Namespace) -> int:
    from service.access.keys import revoke_api_key
    from service.audit import trail as audit
    from service.domain.errors import Conflict, NotFound

    try:
        with _session() as session, session.begin():
            view = revoke_api_key(session, audit.OPERATOR, args.prefix)
    except (NotFound, Conflict) as exc:
        print(f"erreur : {exc.message}", file=sys.stderr)
        return 1
    print(f"Clé {view['prefix']} ({view['role']}, {view['label'] or 'sans libellé'}) révoquée le "
          f"{view['revoked_at']} ; elle est refusée par tous les processus au plus tard "
          f"{get_settings().api_key_cache_seconds:g} s après.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from service.demo import seed_demo

    with _session() as session, session.begin():
        keys = seed_demo(session, keys_file=Path(args.keys_file), today=_today(),
                         mailing=Mailing.from_settings(get_settings()))
    print("Clés de démonstration (Authorization: Bearer <clé>) :")
    for role, secret in keys.items():
        print(f"  {role:<13} {secret}")
    return 0


def cmd_openapi(_args: argparse.Namespace) -> int:
    from service.main import create_app

    json.dump(create_app().openapi(), sys.stdout, indent=2, ensure_ascii=False, sort_keys=False)
    sys.stdout.write("\n")
    return 0


def cmd_sweep_proofs(args: argparse.Namespace) -> int:
    from service.kit.storage import open_store
    from service.proofs.use_cases import referenced_digests

    settings = get_settings()
    store = open_store(settings)
    with _session() as session:
        referenced = referenced_digests(session)  # read before listing: newer objects are within the grace
    report = store.sweep(referenced, grace_seconds=args.grace_seconds)
    for digest in report.objects:
        print(f"supprimé : {digest}")
    for path, size in report.staging:
        print(f"dépôt interrompu supprimé : {path} ({size} octets)")
    print(f"{len(report.objects)} fichier(s) orphelin(s) supprimé(s), "
          f"{len(report.staging)} fichier(s) de dépôt interrompu supprimé(s) "
          f"({sum(size for _, size in report.staging)} octets) ; "
          f"{len(referenced)} contenu(s) référencé(s) conservé(s).")
    return 0


def cmd_finess_import(args: argparse.Namespace) -> int:
    import hashlib

    from service.audit import trail as audit
    from service.control.use_cases import refresh_closure_reasons
    from service.domain.errors import Conflict
    from service.registry.imports import import_extract

    path = Path(args.file)
    try:
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        print(f"erreur : extrait illisible ({exc})", file=sys.stderr)
        return 2
    try:
        with _session() as session, session.begin():
            view, created = import_extract(session, audit.OPERATOR, path, filename=path.name,
                                           sha256=digest.hexdigest(), size=size,
                                           closures_changed=refresh_closure_reasons)
    except ValidationFailed as exc:
        for issue in exc.issues:
            print(f"erreur : ligne {issue.row} : {issue.message}" if issue.row else f"erreur : {issue.message}",
                  file=sys.stderr)
        print("Rien n'a été importé.", file=sys.stderr)
        return 1
    except Conflict as exc:
        print(f"erreur : {exc.message}", file=sys.stderr)
        return 1
    if not created:
        print(f"Extrait déjà importé (instantané n° {view['id']} du {view['extracted_on']}) : rien de changé.")
        return 0
    print(f"Instantané n° {view['id']} : extrait du {view['extracted_on']} ({view['encoding']}), "
          f"{view['establishments']} établissement(s), {view['added']} nouveau(x), {view['closed']} fermé(s), "
          f"{view['reopened']} rouvert(s) ; SHA-256 {view['sha256']}.")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from service.audit.trail import verify
    from service.log.keys import LogSigner
    from service.log.verify import verify_log

    settings = get_settings()
    witness = None
    if args.checkpoint:
        try:
            witness = Path(args.checkpoint).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"erreur : point de contrôle illisible ({exc})", file=sys.stderr)
            return 2
    engine = create_db_engine(settings.database_url, pool_size=1)
    try:
        count, broken = verify(engine)
        report = verify_log(engine, LogSigner.from_settings(settings).keys, origin=settings.log_origin,
                            witness=witness)
    finally:
        engine.dispose()
    if broken is not None:
        print(f"Événements d'audit en défaut : {broken.message} ({count} événement(s) vérifié(s) avant).")
        return 1
    if report.problem is not None:
        print(f"Journal vérifiable en défaut : {report.problem.rstrip('.')}.")
        return 1
    against = " et cohérent avec le point de contrôle du témoin" if witness is not None else ""
    print(f"Événements d'audit intègres : {count} événement(s) vérifié(s), chaîne antérieure au journal comprise. "
          "Journal vérifiable intègre : "
          f"{report.size} feuille(s), racine et signature du dernier point de contrôle vérifiées{against}.")
    return 0


def cmd_webhooks_deliver(args: argparse.Namespace) -> int:
    """Run the deliverer in the foreground until SIGTERM or SIGINT (or one pass with ``--once``)."""
    import os
    import signal
    import threading

    from service.kit.db import Database
    from service.main import deliverer_for

    settings = get_settings()
    database = Database(settings)
    deliverer = deliverer_for(database, settings)
    try:
        if args.once:
            print(f"{deliverer.run_once()} tentative(s) de livraison.")
            return 0
        stopped = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopped.set())
        deliverer.start()
        print(f"Envoi des webhooks en cours ({deliverer.holder}) ; arrêt par SIGTERM ou Ctrl-C.", flush=True)
        while not stopped.wait(1.0):
            if args.parent is not None and os.getppid() != args.parent:
                break  # the application process that started this one is gone
        return 0
    finally:
        deliverer.stop()
        database.close()


def cmd_backup(args: argparse.Namespace) -> int:
    from service.backups.use_cases import BackupRefused, backup
    from service.kit.storage import open_store

    settings = get_settings()
    try:
        report = backup(settings.database_url, open_store(settings), Path(args.folder))
    except BackupRefused as exc:
        print(f"erreur : {exc}", file=sys.stderr)
        return 2
    print(f"Sauvegarde écrite dans {report.folder} : base ({report.database_file}), {report.proofs} preuve(s) "
          f"({report.bytes} octets), manifeste SHA-256 de chaque fichier.")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from service.backups.use_cases import BackupRefused, restore
    from service.kit.storage import open_store

    settings = get_settings()
    try:
        report = restore(Path(args.folder), settings.database_url, open_store(settings))
    except BackupRefused as exc:
        print(f"erreur : {exc}", file=sys.stderr)
        return 2
    print(f"Restauration faite depuis {report.folder} : base ({report.database_file}), {report.proofs} preuve(s) "
          f"({report.bytes} octets), chaque fichier vérifié contre le manifeste. Vérifiez ensuite le journal : "
          "python -m service audit verify --checkpoint <point de contrôle du témoin>.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from service.http.server import serve

    serve(host=args.host, port=args.port, workers=args.workers)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description="Service des indicateurs d'usage.")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-key", help="créer une clé d'API (affichée une seule fois)")
    create.add_argument("--role", choices=[r.value for r in Role], help="rôle (sinon celui de --organisation)")
    create.add_argument("--organisation", type=int, default=None,
                        help="identifiant de l'organisation de la clé (sinon trouvée ou créée selon le rôle)")
    create.add_argument("--manager", action="store_true",
                        help="clé de gestionnaire : gère les personnes, les clés et les mandats de l'organisation")
    create.add_argument("--region", help="code région (rôle ars_reviewer)")
    create.add_argument("--siret", help="SIRET du porteur (rôle porteur)")
    create.add_argument("--galis-ref", nargs="+", default=[], help="références mandatées (rôle vendor)")
    create.add_argument("--label", default="", help="libellé libre")
    create.add_argument("--expires-on", type=_iso_date, default=None,
                        help="premier jour où la clé est refusée (AAAA-MM-JJ) ; sans expiration par défaut")
    create.set_defaults(func=cmd_create_key)

    revoke = commands.add_parser("revoke-key", help="révoquer une clé d'API par son préfixe")
    revoke.add_argument("prefix", help="le préfixe affiché à la création de la clé (ex. esms_6Lu3dEU)")
    revoke.set_defaults(func=cmd_revoke_key)

    demo = commands.add_parser("demo", help="données et clés de démonstration")
    demo.add_argument("--keys-file", default=str(VAR_DIR / "demo-keys.json"))
    demo.set_defaults(func=cmd_demo)

    openapi = commands.add_parser("openapi", help="afficher la description OpenAPI")
    openapi.set_defaults(func=cmd_openapi)

    sweep = commands.add_parser("sweep-proofs",
                                help="supprimer les fichiers de preuve qu'aucune preuve enregistrée ne référence")
    sweep.add_argument("--grace-seconds", type=float, default=3600.0,
                       help="ne supprimer que les fichiers plus anciens (défaut : 3600 s)")
    sweep.set_defaults(func=cmd_sweep_proofs)

    finess = commands.add_parser("finess", help="référentiel FINESS")
    finess_commands = finess.add_subparsers(dest="finess_command", required=True)
    finess_import = finess_commands.add_parser("import", help="importer l'extrait public du fichier FINESS")
    finess_import.add_argument("file", help="le fichier etalab-cs1100507-stock-….csv")
    finess_import.set_defaults(func=cmd_finess_import)

    audit = commands.add_parser("audit", help="journal d'audit")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="vérifier la chaîne d'audit et le journal vérifiable")
    verify.add_argument("--checkpoint", help="point de contrôle conservé par un témoin : le journal doit le prolonger")
    verify.set_defaults(func=cmd_audit_verify)

    webhooks = commands.add_parser("webhooks", help="webhooks")
    webhooks_commands = webhooks.add_subparsers(dest="webhooks_command", required=True)
    deliver = webhooks_commands.add_parser("deliver", help="envoyer les webhooks (un seul envoyeur actif à la fois)")
    deliver.add_argument("--once", action="store_true", help="une passe : ce qui est dû maintenant, puis s'arrêter")
    deliver.add_argument("--parent", type=int, default=None,
                         help="s'arrêter quand ce processus (l'application qui l'a lancé) a disparu")
    deliver.set_defaults(func=cmd_webhooks_deliver)

    saved = commands.add_parser("backup", help="sauvegarder la base (à chaud, cohérente) et les preuves, avec "
                                               "un manifeste SHA-256")
    saved.add_argument("folder", help="dossier de la sauvegarde (absent ou vide)")
    saved.set_defaults(func=cmd_backup)
    restored = commands.add_parser("restore", help="remplir la base et le stockage des preuves configurés (vides) "
                                                   "depuis une sauvegarde")
    restored.add_argument("folder", help="dossier d'une sauvegarde faite par « backup »")
    restored.set_defaults(func=cmd_restore)

    serve = commands.add_parser("serve", help="servir l'API et la console (uvicorn, avec ses bornes)")
    serve.add_argument("--host", default="127.0.0.1", help="adresse d'écoute (127.0.0.1 par défaut)")
    serve.add_argument("--port", type=int, default=8000, help="port d'écoute (8000 par défaut)")
    serve.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 1),
                       help="processus de travail (WEB_CONCURRENCY, sinon 1 ; 1 seul sur SQLite)")
    serve.set_defaults(func=cmd_serve)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
