#!/bin/sh
# azd postdeploy hook: subscribe the blob-triggered function to BlobCreated events on the jobs container.
# Flex Consumption runs blob triggers only through Event Grid, and the webhook needs the app's
# blobs_extension system key, which exists only once the deployed host has started. The key goes into the
# Event Grid subscription's endpoint, never into app settings, outputs or this script's output.
set -eu

: "${AZURE_RESOURCE_GROUP:?run through azd: the template outputs provide it}"
: "${AZURE_FUNCTION_APP_NAME:?}"
: "${JOBS_SYSTEM_TOPIC_NAME:?}"
: "${JOBS_CONTAINER_NAME:?}"
: "${SUBMIT_FROM_BLOB_FUNCTION_NAME:?}"

subscription_name="submit-from-blob"

key=""
attempt=1
while [ "$attempt" -le 12 ]; do
  key=$(az functionapp keys list --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
    --query "systemKeys.blobs_extension" --output tsv 2>/dev/null || true)
  [ -n "$key" ] && break
  echo "postdeploy: waiting for the host to create the blobs_extension key (attempt $attempt of 12)"
  attempt=$((attempt + 1))
  sleep 10
done
if [ -z "$key" ]; then
  echo "postdeploy: no blobs_extension key on $AZURE_FUNCTION_APP_NAME. Check that functions/ registers" >&2
  echo "  '$SUBMIT_FROM_BLOB_FUNCTION_NAME' with app.storageBlob(..., { source: 'EventGrid' }) and that the app started," >&2
  echo "  then run: azd hooks run postdeploy" >&2
  exit 1
fi

host=$(az functionapp show --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
  --query defaultHostName --output tsv)
endpoint="https://${host}/runtime/webhooks/blobs?functionName=Host.Functions.${SUBMIT_FROM_BLOB_FUNCTION_NAME}&code=${key}"

# Rejection records the app writes under _rejected/ would each cost an ignored call: filtered out here.
# create is a PUT: running the hook again updates the subscription (for example after a key rotation).
az eventgrid system-topic event-subscription create \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --system-topic-name "$JOBS_SYSTEM_TOPIC_NAME" \
  --name "$subscription_name" \
  --endpoint-type webhook \
  --endpoint "$endpoint" \
  --included-event-types Microsoft.Storage.BlobCreated \
  --subject-begins-with "/blobServices/default/containers/${JOBS_CONTAINER_NAME}/" \
  --advanced-filter subject StringNotBeginsWith "/blobServices/default/containers/${JOBS_CONTAINER_NAME}/blobs/_rejected/" \
  --output none

echo "postdeploy: Event Grid subscription '$subscription_name' delivers new blobs in '$JOBS_CONTAINER_NAME' to $SUBMIT_FROM_BLOB_FUNCTION_NAME"
