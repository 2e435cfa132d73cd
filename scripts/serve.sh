#!/usr/bin/env bash
# Runs the service on the embedded default: a SQLite file under var/, schema migrated,
# demo data loaded and one demo key per role printed. Ctrl-C stops it.
source "$(dirname "$0")/_env.sh"
# development: webhooks may reach a receiver on this machine (http too)
export SERVICE_WEBHOOKS_ALLOW_LOOPBACK=${SERVICE_WEBHOOKS_ALLOW_LOOPBACK:-true}
alembic upgrade head
python -m service demo
port=${PORT:-8000}
# development: the console is reached over plain http on this machine (its cookies not Secure)
export SERVICE_PUBLIC_URL=${SERVICE_PUBLIC_URL:-http://127.0.0.1:${port}}
cat <<EON

Service sur http://127.0.0.1:${port} — documentation : http://127.0.0.1:${port}/docs
Console (connexion avec une clé ci-dessus) : http://127.0.0.1:${port}/console/
Essai (clé « vendor » ci-dessus) :
  curl -s -X POST http://127.0.0.1:${port}/v1/funding-requests/12345678/submissions \\
    -H "Authorization: Bearer <clé vendor>" -H "Content-Type: application/json" \\
    -d '{"milestone":"va","rows":[{"finess":"240000372","raison_sociale":"EHPAD Les Tilleuls","dmp_fed":40,"mss_messages_sent":120,"active_dui":95,"persons_accompanied":100,"dui_with_personal_plan":90,"dui_with_agenda_event":93,"period_start":"2024-01-01","period_end":"2024-03-31"}]}'

EON
exec python -m service serve --host "${HOST:-127.0.0.1}" --port "$port"
