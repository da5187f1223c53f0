#!/bin/sh
# azd postprovision hook: the Synapse data-plane roles (Synapse RBAC) of the function app's
# identity, which ARM cannot assign. With them the app starts runs of the pipeline (Synapse
# Contributor) whose Spark job runs as the workspace identity (Synapse Credential User).
# Runs as whoever runs `azd up`, the workspace's first Synapse Administrator; the workspace
# firewall must let this machine through (azd env set SYNAPSE_CLIENT_IP <your public IP>).
# Safe to run again: a role already assigned is left as it is.
set -eu
if [ -z "${SYNAPSE_WORKSPACE_NAME:-}" ]; then
    echo "Synapse is off (azd env set SYNAPSE_ENABLED true turns it on): no Synapse roles to assign"
    exit 0
fi
: "${AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID:?}"

assign() {  # role, principal (object) id
    count=$(az synapse role assignment list --workspace-name "$SYNAPSE_WORKSPACE_NAME" \
        --role "$1" --assignee-object-id "$2" --query "length(@)" --output tsv)
    if [ "$count" != "0" ]; then
        echo "$1: already assigned to $2"
        return
    fi
    az synapse role assignment create --workspace-name "$SYNAPSE_WORKSPACE_NAME" \
        --role "$1" --assignee-object-id "$2" --assignee-principal-type ServicePrincipal \
        --output none
    echo "$1: assigned to $2"
}

assign "Synapse Contributor" "$AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID"
assign "Synapse Credential User" "$AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID"
