#!/bin/sh
# azd postdeploy hook: subscribe the blob-triggered function to BlobCreated events on the jobs container.
# Flex Consumption runs blob triggers only through Event Grid (and Container Apps scales a Functions app's blob
# trigger only that way), and the webhook needs the app's blobs_extension system key, which exists only once
# the deployed host has started. HOSTING_PLAN (a template output) says which CLI commands reach the app: az
# functionapp for Flex Consumption, az containerapp for the container option. The key goes into the
# Event Grid subscription's endpoint, never into app settings, outputs, this script's output or any
# command line: it travels from az's stdout into a variable, and from there into a request body file
# that only this user can read and that is deleted on exit (test/unit/infra checks this).
set -eu

: "${AZURE_RESOURCE_GROUP:?run through azd: the template outputs provide it}"
: "${AZURE_FUNCTION_APP_NAME:?}"
: "${JOBS_SYSTEM_TOPIC_NAME:?}"
: "${JOBS_CONTAINER_NAME:?}"
: "${SUBMIT_FROM_BLOB_FUNCTION_NAME:?}"
hosting_plan="${HOSTING_PLAN:-flexconsumption}"

subscription_name="submit-from-blob"

umask 077
body_file=$(mktemp)
error_file=$(mktemp)
trap 'rm -f "$body_file" "$error_file"' EXIT
trap 'exit 1' INT TERM

# The key on stdout, or nothing while the host has not made it yet. az containerapp nests the key under
# value.value (as the CLI extension's own tests expect); the query also takes a flat value.
blobs_extension_key() {
  if [ "$hosting_plan" = "containerapp" ]; then
    az containerapp function keys show --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
      --key-type systemKey --key-name blobs_extension --query "value.value || value" --output tsv 2>/dev/null || true
  else
    az functionapp keys list --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
      --query "systemKeys.blobs_extension" --output tsv 2>/dev/null || true
  fi
}

key=""
attempt=1
while [ "$attempt" -le 12 ]; do
  key=$(blobs_extension_key)
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

if [ "$hosting_plan" = "containerapp" ]; then
  host=$(az containerapp show --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
    --query properties.configuration.ingress.fqdn --output tsv)
else
  host=$(az functionapp show --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
    --query defaultHostName --output tsv)
fi
topic_id=$(az eventgrid system-topic show --resource-group "$AZURE_RESOURCE_GROUP" --name "$JOBS_SYSTEM_TOPIC_NAME" \
  --query id --output tsv)

# Rejection records the app writes under _rejected/ would each cost an ignored call: filtered out here.
# A PUT: running the hook again updates the subscription (for example after a key rotation).
cat >"$body_file" <<EOF
{
  "properties": {
    "destination": {
      "endpointType": "WebHook",
      "properties": {
        "endpointUrl": "https://${host}/runtime/webhooks/blobs?functionName=Host.Functions.${SUBMIT_FROM_BLOB_FUNCTION_NAME}&code=${key}"
      }
    },
    "filter": {
      "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
      "subjectBeginsWith": "/blobServices/default/containers/${JOBS_CONTAINER_NAME}/",
      "advancedFilters": [
        {
          "operatorType": "StringNotBeginsWith",
          "key": "subject",
          "values": ["/blobServices/default/containers/${JOBS_CONTAINER_NAME}/blobs/_rejected/"]
        }
      ]
    },
    "eventDeliverySchema": "EventGridSchema"
  }
}
EOF

# A URL without a host is an ARM resource path: az rest sends it to the current cloud's ARM endpoint.
if ! az rest --method put \
  --url "${topic_id}/eventSubscriptions/${subscription_name}?api-version=2022-06-15" \
  --headers "Content-Type=application/json" \
  --body "@${body_file}" \
  --output none 2>"$error_file"; then
  # An error may quote the endpoint: its code= is blanked before anything is shown.
  sed 's/code=[^&" ]*/code=***/g' "$error_file" >&2
  exit 1
fi

echo "postdeploy: Event Grid subscription '$subscription_name' delivers new blobs in '$JOBS_CONTAINER_NAME' to $SUBMIT_FROM_BLOB_FUNCTION_NAME"
