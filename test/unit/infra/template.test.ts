import fs from 'node:fs';
import path from 'node:path';
import { Language, Parser } from 'web-tree-sitter';
import { azureResourceContract, settingsSchema } from '../../../src/config';
import {
  type AppContract,
  checkBlobTrigger,
  checkDurableStorage,
  checkHardening,
  checkHooks,
  checkLinkSecret,
  checkResources,
  checkRoles,
  checkSecrets,
  checkSettings,
  checkTemplate,
  readTemplateFiles,
  type TemplateFiles,
} from './templateCheck';

const repoRoot = path.resolve(__dirname, '../../..');
const template = readTemplateFiles(repoRoot);

const defaults: Record<string, unknown> = settingsSchema.parse({});
const contract: AppContract = {
  schemaKeys: Object.keys(settingsSchema.shape),
  keysWithDefaults: Object.keys(settingsSchema.shape).filter((key) => defaults[key] !== undefined),
  ...azureResourceContract,
};

/** A copy of the template with one file edited; throws if the edit does not apply, so no case is vacuous. */
function edited(file: string, from: string | RegExp, to: string): TemplateFiles {
  const files = new Map(template.files);
  const text = files.get(file);
  if (text === undefined) {
    files.set(file, to);
    return { files };
  }
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`edit of ${file} did not apply: ${String(from)}`);
  files.set(file, changed);
  return { files };
}

const blobTriggerDone = `import { app } from '@azure/functions';
app.storageBlob('SubmitFromBlob', { path: 'jobs/{name}', source: 'EventGrid', connection: 'AzureWebJobsStorage', handler });
app.serviceBusQueue('SubmitFromServiceBus', { connection: 'ServiceBusConnection', queueName: '%PARALLEL_JOB_SUBMIT_QUEUE%', handler });
`;

describe('the azd template in infra/ matches what the code needs', () => {
  it.each([
    ['every setting the app and the host read is set', checkSettings],
    ['no key, connection string or listKeys( in settings or outputs', (t: TemplateFiles) => checkSecrets(t)],
    ['shared keys off, HTTPS only, TLS 1.2, Flex Consumption', (t: TemplateFiles) => checkHardening(t)],
    ['containers, queue and topic the code uses are created', checkResources],
    ['the app identity holds exactly the roles the code needs', checkRoles],
    ['the blob trigger is wired through Event Grid', (t: TemplateFiles) => checkBlobTrigger(t)],
    ['the download-link key is generated, @secure and set', (t: TemplateFiles) => checkLinkSecret(t)],
    [
      'Durable storage is named by connectionName (identity-based)',
      (t: TemplateFiles) => checkDurableStorage(t),
    ],
    ['hooks put no key or secret on a command line', (t: TemplateFiles) => checkHooks(t)],
  ] as const)('%s', (_name, check) => {
    expect(check(template, contract)).toEqual([]);
  });

  it('reads the real schema and template (guards against checks that see nothing)', () => {
    expect(contract.schemaKeys).toEqual(
      expect.arrayContaining([
        'AzureWebJobsStorage__blobServiceUri',
        'ServiceBusConnection__fullyQualifiedNamespace',
      ]),
    );
    expect([...template.files.keys()]).toEqual(
      expect.arrayContaining(['infra/main.bicep', 'infra/app/functionapp.bicep', 'infra/app/rbac.bicep']),
    );
    expect(contract.blobContainers).toEqual(['jobs', 'inputs', 'outputs', 'logs', 'schedules']);
  });

  it('accepts the trigger declarations functions/ is meant to have', () => {
    const withFunctions = edited('functions/submit.ts', '', blobTriggerDone);
    expect(checkTemplate(withFunctions, contract)).toEqual([]);
  });

  it('every Bicep file parses (tree-sitter-bicep grammar), and a broken one does not', async () => {
    await Parser.init();
    const bicep = await Language.load(
      // Bytes, not a path: a path makes web-tree-sitter import fs dynamically, which jest's CommonJS mode refuses.
      fs.readFileSync(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm')),
    );
    const parser = new Parser();
    parser.setLanguage(bicep);
    const syntaxErrors = (text: string): boolean => parser.parse(text)?.rootNode.hasError ?? true;
    const bicepFiles = [...template.files].filter(([file]) => file.endsWith('.bicep'));
    expect(bicepFiles.length).toBeGreaterThanOrEqual(9);
    expect(bicepFiles.filter(([, text]) => syntaxErrors(text)).map(([file]) => file)).toEqual([]);
    const main = template.files.get('infra/main.bicep') ?? '';
    expect(syntaxErrors(main.replace('module storage', 'module storage {'))).toBe(true);
  });
});

describe('the checks catch a broken template', () => {
  const cases: [string, () => TemplateFiles, AppContract, string][] = [
    [
      'a container the code uses is missing',
      () => edited('infra/main.bicep', "  PARALLEL_JOB_LOGS_CONTAINER: 'logs'\n", ''),
      contract,
      "blob container 'logs'",
    ],
    [
      'the submission queue is renamed',
      () =>
        edited(
          'infra/main.bicep',
          "var submitQueueName = 'job-submissions'",
          "var submitQueueName = 'submissions'",
        ),
      contract,
      "Service Bus queue 'job-submissions'",
    ],
    [
      'the events topic is not created',
      () => edited('infra/app/servicebus.bicep', 'for topicName in topicNames:', 'for topicName in []:'),
      contract,
      "Service Bus topic 'job-events'",
    ],
    [
      'a role the code needs is not assigned',
      () => edited('infra/main.bicep', "  'Storage Queue Data Contributor'\n", ''),
      contract,
      "role 'Storage Queue Data Contributor'",
    ],
    [
      'a role the code does not need is assigned',
      () =>
        edited(
          'infra/main.bicep',
          "  'Storage Blob Data Owner'\n",
          "  'Storage Blob Data Owner'\n  'Owner'\n",
        ),
      contract,
      "role 'Owner' on the storageAccount is assigned but not in azureResourceContract",
    ],
    [
      'an identity setting the app reads is dropped',
      () => edited('infra/app/functionapp.bicep', '  ServiceBusConnection__clientId: identityClientId\n', ''),
      contract,
      'ServiceBusConnection__clientId is read by the app but not set',
    ],
    [
      'the schema gains a setting the template does not set',
      () => template,
      { ...contract, schemaKeys: [...contract.schemaKeys, 'PARALLEL_JOB_RESULT_WEBHOOK'] },
      'PARALLEL_JOB_RESULT_WEBHOOK is read by the app but not set',
    ],
    [
      'infra sets a setting under a name the code does not read',
      () => edited('infra/app/functionapp.bicep', 'PARALLEL_JOB_EVENTS_TOPIC:', 'PARALLEL_JOB_EVENT_TOPIC:'),
      contract,
      'infra sets PARALLEL_JOB_EVENT_TOPIC, which src/config.ts does not declare',
    ],
    [
      'the Durable Task Scheduler option loses its connection setting',
      () => edited('infra/app/functionapp.bicep', /^ {2}DURABLE_TASK_SCHEDULER_CONNECTION_STRING: .*\n/m, ''),
      contract,
      'does not set DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
    ],
    [
      'a storage connection string with a key',
      () =>
        edited(
          'infra/app/functionapp.bicep',
          'var storageSettings = {\n',
          "var storageSettings = {\n  AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountKey=${storage.listKeys().keys[0].value}'\n",
        ),
      contract,
      'app setting AzureWebJobsStorage is a connection string',
    ],
    [
      'an output that leaks a key',
      () =>
        edited('infra/app/storage.bicep', /$/, '\noutput key string = storage.listKeys().keys[0].value\n'),
      contract,
      'infra/app/storage.bicep uses listKeys\\(',
    ],
    [
      'shared key access turned on',
      () => edited('infra/app/storage.bicep', 'allowSharedKeyAccess: false', 'allowSharedKeyAccess: true'),
      contract,
      'storage account must set allowSharedKeyAccess: false',
    ],
    [
      'HTTPS only turned off',
      () => edited('infra/app/functionapp.bicep', 'httpsOnly: true', 'httpsOnly: false'),
      contract,
      'function app must set httpsOnly: true',
    ],
    [
      'TLS lowered to 1.0',
      () => edited('infra/app/storage.bicep', "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'"),
      contract,
      "storage account must set minimumTlsVersion: 'TLS1_2'",
    ],
    [
      'a blob trigger declared without Event Grid',
      () => edited('functions/submit.ts', '', blobTriggerDone.replace("source: 'EventGrid', ", '')),
      contract,
      "blob trigger SubmitFromBlob must declare source: 'EventGrid'",
    ],
    [
      'a trigger on a connection and queue setting the template does not provide',
      () =>
        edited(
          'functions/submit.ts',
          '',
          blobTriggerDone
            .replace("'ServiceBusConnection'", "'OtherBus'")
            .replace('%PARALLEL_JOB_SUBMIT_QUEUE%', '%OTHER_QUEUE%'),
        ),
      contract,
      'connection OtherBus has no identity-based endpoint setting',
    ],
    [
      'a host-resolved %setting% that is never set',
      () => edited('host.json', '%PARALLEL_JOB_TASK_HUB%', '%PARALLEL_JOB_HUB_NAME%'),
      contract,
      '%PARALLEL_JOB_HUB_NAME% is resolved by the Functions host',
    ],
  ];

  const hook = 'infra/hooks/postdeploy.sh';
  const beforeRest = '# A URL without a host';
  cases.push(
    [
      'the link key setting is dropped',
      () => edited('infra/app/functionapp.bicep', '  PARALLEL_JOB_LINK_SECRET: linkSecret\n', ''),
      contract,
      'PARALLEL_JOB_LINK_SECRET is read by the app but not set',
    ],
    [
      'the link key parameter of the app module is not @secure()',
      () =>
        edited(
          'infra/app/functionapp.bicep',
          "@secure()\n@description('HMAC key of the signed",
          "@description('HMAC key of the signed",
        ),
      contract,
      'PARALLEL_JOB_LINK_SECRET must come straight from a @secure\\(\\) parameter',
    ],
    [
      'the link key parameter of main.bicep is not @secure()',
      () => edited('infra/main.bicep', "@secure()\n@description('HMAC key", "@description('HMAC key"),
      contract,
      'main.bicep must pass linkSecret to the app module from a @secure\\(\\) parameter',
    ],
    [
      'the link key is a fixed value in the template',
      () =>
        edited(
          'infra/main.bicep',
          "param linkSecret string = '${newGuid()}${newGuid()}'",
          "param linkSecret string = 'the-same-link-key-in-every-deployment-0001'",
        ),
      contract,
      'main.bicep parameter linkSecret must default to a generated value',
    ],
    [
      'Durable storage named by connectionStringName',
      () => edited('host.json', '"connectionName"', '"connectionStringName"'),
      contract,
      'uses connectionStringName; use connectionName',
    ],
    [
      'Durable storage on a connection without identity settings',
      () =>
        edited('host.json', '"connectionName": "AzureWebJobsStorage"', '"connectionName": "DurableStore"'),
      contract,
      'connection DurableStore has no identity-based endpoint setting',
    ],
    [
      'a hook passes the key in a command line argument (the old --endpoint)',
      () =>
        edited(
          hook,
          beforeRest,
          'az eventgrid system-topic event-subscription create --endpoint "https://$host/x?code=${key}"\n' +
            beforeRest,
        ),
      contract,
      'postdeploy.sh:\\d+ puts secret \\$key on a command line',
    ],
    [
      'a hook passes a value built from the key',
      () =>
        edited(
          hook,
          beforeRest,
          'endpoint="https://${host}/x?code=${key}"\naz eventgrid system-topic event-subscription create \\\n  --endpoint "$endpoint"\n' +
            beforeRest,
        ),
      contract,
      'puts secret \\$endpoint on a command line',
    ],
    [
      'a hook prints the key',
      () => edited(hook, beforeRest, 'echo "the key is $key"\n' + beforeRest),
      contract,
      'puts secret \\$key on a command line',
    ],
    [
      'a hook reads a storage key into a variable and hands it to a command',
      () =>
        edited(
          hook,
          beforeRest,
          'account=$(az storage account keys list --account-name x --query "[0].value" -o tsv)\nazcopy copy --key "$account"\n' +
            beforeRest,
        ),
      contract,
      'puts secret \\$account on a command line',
    ],
  );

  it.each(cases)('%s', (_name, broken, brokenContract, expected) => {
    const problems = checkTemplate(broken(), brokenContract);
    expect(problems.join('\n')).toMatch(new RegExp(expected));
  });
});
