#!/bin/sh
# azd postprovision hook: what ARM cannot do, in order. With SYNAPSE_ENABLED=true, the Synapse
# data-plane roles of the app's identity, then the serverless SQL objects Power BI reads;
# each step is a no-op while Synapse is off.
set -eu
here=$(dirname "$0")
"$here/synapse-roles.sh"
"$here/synapse-sql.sh"
