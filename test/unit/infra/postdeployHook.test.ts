import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The postdeploy hook run for real by sh, with a stand-in `az` first on PATH (no Azure here) that records
 * every command line it is given: the key it hands out must never be on one, nor in the hook's output.
 */

const hook = path.resolve(__dirname, '../../../infra/hooks/postdeploy.sh');
const KEY = 'blobs-extension-key-Zq81xW';

const stub = `#!/bin/sh
printf '%s\\n' "$*" >>"$AZ_ARGS"
case "$*" in
  *"functionapp keys list"*) printf '%s\\n' "$AZ_KEY" ;;
  *"functionapp show"*) echo "app.example.test" ;;
  *"containerapp function keys show"*) printf '%s\\n' "$AZ_KEY" ;;
  *"containerapp show"*) echo "ca-x.region.azurecontainerapps.test" ;;
  *"system-topic show"*) echo "/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventGrid/systemTopics/topic" ;;
  rest*)
    for arg in "$@"; do
      case "$arg" in
        @*) file=\${arg#@}; cp "$file" "$AZ_BODY"; stat -c %a "$file" >"$AZ_BODY.mode"; echo "$file" >"$AZ_BODY.path" ;;
      esac
    done
    if [ -n "\${AZ_FAIL:-}" ]; then
      echo "ERROR: Webhook validation handshake failed for https://app.example.test/runtime/webhooks/blobs?functionName=x&code=$AZ_KEY" >&2
      exit 1
    fi ;;
esac
`;

function runHook(extra: Record<string, string> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postdeploy-'));
  fs.writeFileSync(path.join(dir, 'az'), stub, { mode: 0o755 });
  const files = { args: path.join(dir, 'args.txt'), body: path.join(dir, 'body.json') };
  const result = spawnSync('sh', [hook], {
    encoding: 'utf8',
    env: {
      PATH: `${dir}:${process.env.PATH ?? ''}`,
      AZ_ARGS: files.args,
      AZ_BODY: files.body,
      AZ_KEY: KEY,
      AZURE_RESOURCE_GROUP: 'rg',
      AZURE_FUNCTION_APP_NAME: 'func-x',
      JOBS_SYSTEM_TOPIC_NAME: 'topic',
      JOBS_CONTAINER_NAME: 'jobs',
      SUBMIT_FROM_BLOB_FUNCTION_NAME: 'SubmitFromBlob',
      ...extra,
    },
  });
  return { result, files };
}

describe('infra/hooks/postdeploy.sh', () => {
  it('sends the key only in a private, deleted request body: never in argv or output', () => {
    const { result, files } = runHook();
    expect(result.status).toBe(0);
    const args = fs.readFileSync(files.args, 'utf8');
    expect(args).toContain('functionapp keys list');
    expect(args).toMatch(
      /^rest --method put --url \/subscriptions\/s\/.*\/systemTopics\/topic\/eventSubscriptions\/submit-from-blob\?api-version=/m,
    );
    expect(args).not.toContain(KEY);
    expect(result.stdout + result.stderr).not.toContain(KEY);

    const body = JSON.parse(fs.readFileSync(files.body, 'utf8')) as {
      properties: {
        destination: { properties: { endpointUrl: string } };
        filter: { subjectBeginsWith: string };
      };
    };
    expect(body.properties.destination.properties.endpointUrl).toBe(
      `https://app.example.test/runtime/webhooks/blobs?functionName=Host.Functions.SubmitFromBlob&code=${KEY}`,
    );
    expect(body.properties.filter.subjectBeginsWith).toBe('/blobServices/default/containers/jobs/');
    expect(fs.readFileSync(`${files.body}.mode`, 'utf8').trim()).toBe('600');
    expect(fs.existsSync(fs.readFileSync(`${files.body}.path`, 'utf8').trim())).toBe(false);
  });

  it('reaches the container option with az containerapp, under the same rules for the key', () => {
    const { result, files } = runHook({ HOSTING_PLAN: 'containerapp', AZURE_FUNCTION_APP_NAME: 'ca-x' });
    expect(result.status).toBe(0);
    const args = fs.readFileSync(files.args, 'utf8');
    expect(args).toMatch(
      /^containerapp function keys show --resource-group rg --name ca-x --key-type systemKey --key-name blobs_extension /m,
    );
    expect(args).toMatch(
      /^containerapp show --resource-group rg --name ca-x --query properties\.configuration\.ingress\.fqdn/m,
    );
    expect(args).not.toContain('functionapp');
    expect(args).not.toContain(KEY);
    expect(result.stdout + result.stderr).not.toContain(KEY);
    const body = JSON.parse(fs.readFileSync(files.body, 'utf8')) as {
      properties: { destination: { properties: { endpointUrl: string } } };
    };
    expect(body.properties.destination.properties.endpointUrl).toBe(
      `https://ca-x.region.azurecontainerapps.test/runtime/webhooks/blobs?functionName=Host.Functions.SubmitFromBlob&code=${KEY}`,
    );
    expect(fs.existsSync(fs.readFileSync(`${files.body}.path`, 'utf8').trim())).toBe(false);
  });

  it('blanks the key out of an error that quotes the endpoint', () => {
    const { result, files } = runHook({ AZ_FAIL: '1' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('code=***');
    expect(result.stdout + result.stderr).not.toContain(KEY);
    expect(fs.existsSync(fs.readFileSync(`${files.body}.path`, 'utf8').trim())).toBe(false);
  });
});
