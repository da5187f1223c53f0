#!/bin/sh
# azd postprovision hook (after synapse-roles.sh): the serverless SQL database, data source,
# reader role and views Power BI reads (infra/synapse/sql/, `shoplake synapse sql`), and a
# Power BI data source file for this environment, .azure/<environment>/shoplake.pbids.
# Runs as whoever runs `azd up`, the workspace's first Synapse Administrator and so an
# administrator of its serverless SQL pool; the workspace firewall must let this machine
# through (azd env set SYNAPSE_CLIENT_IP <your public IP>). Safe to run again: every
# statement creates what is missing or alters a view to the catalog's columns.
set -eu
if [ -z "${SYNAPSE_WORKSPACE_NAME:-}" ]; then
    echo "Synapse is off (azd env set SYNAPSE_ENABLED true turns it on): no serverless SQL views to create"
    exit 0
fi
: "${SYNAPSE_ENDPOINT:?}" "${LAKE_URL:?}"

# The project's command: SHOPLAKE if set, else the virtual environment `make` creates, else PATH.
shoplake=${SHOPLAKE:-}
if [ -z "$shoplake" ] && [ -x .venv/bin/shoplake ]; then
    shoplake=.venv/bin/shoplake
elif [ -z "$shoplake" ] && command -v shoplake >/dev/null 2>&1; then
    shoplake=shoplake
fi
if [ -z "$shoplake" ]; then
    echo "the shoplake command is not installed (make installs it in .venv): install it, then" \
         "run ./infra/scripts/synapse-sql.sh" >&2
    exit 1
fi

"$shoplake" synapse sql
"$shoplake" synapse pbids ".azure/${AZURE_ENV_NAME:-default}/shoplake.pbids"
