#!/bin/sh
# azd postdeploy hook: subscribe the on_batch_file function to the lake's BlobCreated events
# under raw/batch/. Flex Consumption blob triggers use the Event Grid source; the webhook
# needs the host's blobs_extension system key, which exists only once the deployed app has
# started, so this step cannot be part of the Bicep. Safe to run again (it updates).
set -eu
: "${AZURE_RESOURCE_GROUP:?}" "${SERVICE_API_NAME:?}" "${LAKE_ACCOUNT_NAME:?}"

key=$(az functionapp keys list --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "$SERVICE_API_NAME" --query "systemKeys.blobs_extension" --output tsv)
if [ -z "$key" ]; then
    echo "no blobs_extension key yet: the app has not started; run this script again" >&2
    exit 1
fi
host=$(az functionapp show --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "$SERVICE_API_NAME" --query defaultHostName --output tsv)
lake_id=$(az storage account show --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "$LAKE_ACCOUNT_NAME" --query id --output tsv)

az eventgrid event-subscription create \
    --name on-batch-file \
    --source-resource-id "$lake_id" \
    --endpoint "https://$host/runtime/webhooks/blobs?functionName=Host.Functions.on_batch_file&code=$key" \
    --included-event-types Microsoft.Storage.BlobCreated \
    --subject-begins-with /blobServices/default/containers/lake/blobs/shoplake/raw/batch/ \
    --output none
echo "on_batch_file subscribed to uploads under lake/shoplake/raw/batch/"
