import fs from 'node:fs';
import path from 'node:path';
import { Language, Parser } from 'web-tree-sitter';
import { azureResourceContract, settingsSchema } from '../../../src/config';
import { checkAzdProjects, checkContainerImage, checkHostingChoice } from './containerCheck';
import {
  checkBlobTrigger,
  checkDurableStorage,
  checkHardening,
  checkHooks,
  checkHostingOptionsAgree,
  checkLinkSecret,
  checkResources,
  checkRoles,
  checkSecrets,
  checkSettings,
  checkTemplate,
} from './templateCheck';
import {
  type AppContract,
  containerApp,
  readAppSettings,
  readTemplateFiles,
  type TemplateFiles,
} from './templateModel';

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
    [
      "shared keys off, HTTPS only, TLS 1.2, Flex Consumption; the container option's app, registry and logs",
      (t: TemplateFiles) => checkHardening(t),
    ],
    ['containers, queue and topic the code uses are created', checkResources],
    ['the app identity holds exactly the roles the code needs', checkRoles],
    ['the blob trigger is wired through Event Grid', (t: TemplateFiles) => checkBlobTrigger(t)],
    ['the download-link key is generated, @secure and set', (t: TemplateFiles) => checkLinkSecret(t)],
    [
      'Durable storage is named by connectionName (identity-based)',
      (t: TemplateFiles) => checkDurableStorage(t),
    ],
    ['hooks put no key or secret on a command line', (t: TemplateFiles) => checkHooks(t)],
    [
      'both hosting options set the same settings, but for the plan and the Python interpreter',
      (t: TemplateFiles) => checkHostingOptionsAgree(t),
    ],
    [
      'PARALLEL_JOB_HOSTING_PLAN chooses one app, Flex Consumption by default',
      (t: TemplateFiles) => checkHostingChoice(t),
    ],
    [
      'the container image: Functions Node image, python3 in a venv, requirements.txt, the Python runtime',
      (t: TemplateFiles) => checkContainerImage(t),
    ],
    [
      'one azd project per hosting plan, each refusing the other plan',
      (t: TemplateFiles) => checkAzdProjects(t),
    ],
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
      expect.arrayContaining([
        'infra/main.bicep',
        'infra/app/functionapp.bicep',
        'infra/app/rbac.bicep',
        'infra/app/containerapp.bicep',
        'infra/app/registry.bicep',
        'infra/container/Dockerfile',
        'infra/container/azure.yaml',
      ]),
    );
    expect(contract.blobContainers).toEqual(['jobs', 'inputs', 'outputs', 'logs', 'schedules']);
    const container = readAppSettings(template, containerApp);
    expect(container.settings.get('PARALLEL_JOB_HOSTING_PLAN')).toBe("'containerapp'");
    expect([...container.byReference]).toEqual(['PARALLEL_JOB_LINK_SECRET']);
    expect(container.settings.size).toBeGreaterThan(20);
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
    expect(bicepFiles.length).toBeGreaterThanOrEqual(12);
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

  // The container option, checked the same way: each case breaks one thing and names what must fail.
  const containerModule = 'infra/app/containerapp.bicep';
  const dockerfile = 'infra/container/Dockerfile';
  const containerProject = 'infra/container/azure.yaml';
  cases.push(
    [
      'the container option loses an identity setting',
      () => edited(containerModule, '  ServiceBusConnection__clientId: identityClientId\n', ''),
      contract,
      'ServiceBusConnection__clientId is read by the app but not set by infra/app/containerapp.bicep',
    ],
    [
      'the container option says it is Flex Consumption',
      () =>
        edited(
          containerModule,
          "PARALLEL_JOB_HOSTING_PLAN: 'containerapp'",
          "PARALLEL_JOB_HOSTING_PLAN: 'flexconsumption'",
        ),
      contract,
      "infra/app/containerapp.bicep must set PARALLEL_JOB_HOSTING_PLAN to 'containerapp'",
    ],
    [
      'the Flex Consumption app says it runs Python',
      () =>
        edited(
          'infra/app/functionapp.bicep',
          "PARALLEL_JOB_HOSTING_PLAN: 'flexconsumption'",
          "PARALLEL_JOB_HOSTING_PLAN: 'containerapp'",
        ),
      contract,
      "infra/app/functionapp.bicep must set PARALLEL_JOB_HOSTING_PLAN to 'flexconsumption'",
    ],
    [
      'the container option does not set the Python interpreter',
      () => edited(containerModule, '  PARALLEL_JOB_PYTHON: pythonInterpreter\n', ''),
      contract,
      "infra/app/containerapp.bicep must set PARALLEL_JOB_PYTHON to the image's Python interpreter",
    ],
    [
      'the container option sets a setting differently from Flex Consumption',
      () =>
        edited(containerModule, 'PARALLEL_JOB_TASK_HUB: taskHubName', "PARALLEL_JOB_TASK_HUB: 'OtherHub'"),
      contract,
      "PARALLEL_JOB_TASK_HUB is taskHubName in infra/app/functionapp.bicep but 'OtherHub' in infra/app/containerapp.bicep",
    ],
    [
      'the container option sets a setting Flex Consumption does not',
      () =>
        edited(
          containerModule,
          '  PARALLEL_JOB_PYTHON: pythonInterpreter\n',
          "  PARALLEL_JOB_PYTHON: pythonInterpreter\n  PARALLEL_JOB_WORK_DIR: '/mnt/work'\n",
        ),
      contract,
      'infra/app/containerapp.bicep sets PARALLEL_JOB_WORK_DIR, which infra/app/functionapp.bicep does not',
    ],
    [
      'the link key reaches the container as a plain environment value',
      () =>
        edited(
          containerModule,
          "    secretRef: toLower(replace(setting.key, '_', '-'))\n",
          '    value: setting.value\n',
        ),
      contract,
      'PARALLEL_JOB_LINK_SECRET reaches the container as a plain environment value',
    ],
    [
      'the container app refers to a secret it does not declare',
      () => edited(containerModule, '      secrets: secrets\n', ''),
      contract,
      'refer to container app secrets .* that the app does not declare',
    ],
    [
      "the container option's link key parameter is not @secure()",
      () =>
        edited(
          containerModule,
          "@secure()\n@description('HMAC key of the signed",
          "@description('HMAC key of the signed",
        ),
      contract,
      'PARALLEL_JOB_LINK_SECRET must come straight from a @secure\\(\\) parameter of infra/app/containerapp.bicep',
    ],
    [
      'main.bicep hands the container app a fixed link key',
      () =>
        edited(
          'infra/main.bicep',
          /(module containerApp [\s\S]*?linkSecret: )linkSecret/,
          "$1'the-same-link-key-in-every-deployment-0001'",
        ),
      contract,
      'main.bicep must pass linkSecret to the app module from a @secure\\(\\) parameter \\(module containerApp\\)',
    ],
    [
      'the container app accepts plain HTTP',
      () => edited(containerModule, 'allowInsecure: false', 'allowInsecure: true'),
      contract,
      'container app must set allowInsecure: false',
    ],
    [
      'the container app is not a Functions app',
      () => edited(containerModule, "  kind: 'functionapp'\n", ''),
      contract,
      "container app must set kind: 'functionapp'",
    ],
    [
      'the image is pulled with a registry password',
      () =>
        edited(
          containerModule,
          '          identity: identityId\n',
          "          username: 'pull'\n          passwordSecretRef: 'registry-password'\n",
        ),
      contract,
      'container app must set identity: identityId',
    ],
    [
      'the registry has its admin user on',
      () => edited('infra/app/registry.bicep', 'adminUserEnabled: false', 'adminUserEnabled: true'),
      contract,
      'container registry must set adminUserEnabled: false',
    ],
    [
      'container logs go to the workspace with its shared key',
      () =>
        edited(
          containerModule,
          "      destination: 'azure-monitor'\n",
          "      destination: 'log-analytics'\n      logAnalyticsConfiguration: {\n        customerId: workspace.properties.customerId\n        sharedKey: workspace.listKeys().primarySharedKey\n      }\n",
        ),
      contract,
      "container apps environment must set destination: 'azure-monitor'",
    ],
    [
      'container logs are not sent to the workspace',
      () => edited(containerModule, '  scope: environment\n', '  scope: app\n'),
      contract,
      'container apps environment must send its logs to the workspace',
    ],
    [
      'the container option scales to zero with the Azure Storage backend',
      () => edited(containerModule, '? max(1, alwaysReadyDurableInstances)', '? alwaysReadyDurableInstances'),
      contract,
      'container app must keep at least one replica \\(minReplicas\\) with the AzureStorage backend',
    ],
    [
      'the app identity cannot pull the image',
      () => edited('infra/main.bicep', "  'AcrPull'\n", ''),
      contract,
      "role 'AcrPull' on the container registry is not assigned to the app identity",
    ],
    [
      'the app identity may push images',
      () => edited('infra/main.bicep', "  'AcrPull'\n", "  'AcrPull'\n  'AcrPush'\n"),
      contract,
      "role 'AcrPush' on the container registry is assigned but only pulling the image is needed",
    ],
    [
      'the container app runs as another identity',
      () =>
        edited(
          'infra/main.bicep',
          /(module containerApp [\s\S]*?identityId: )identity\.outputs\.id/,
          "$1'/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/other'",
        ),
      contract,
      'the containerApp module does not run the app as the identity the roles are assigned to',
    ],
    [
      'the container option becomes the default',
      () =>
        edited(
          'infra/main.bicep',
          "param hostingPlan string = 'flexconsumption'",
          "param hostingPlan string = 'containerapp'",
        ),
      contract,
      'main.bicep must declare param hostingPlan, @allowed flexconsumption and containerapp, defaulting to flexconsumption',
    ],
    [
      'the plan is not read from the azd environment',
      () =>
        edited(
          'infra/main.parameters.json',
          '${PARALLEL_JOB_HOSTING_PLAN=flexconsumption}',
          '${HOSTING_PLAN=flexconsumption}',
        ),
      contract,
      'main.parameters.json must set hostingPlan from',
    ],
    [
      'both apps are deployed',
      () =>
        edited(
          'infra/main.bicep',
          "module functionApp 'app/functionapp.bicep' = if (!useContainerApp) {",
          "module functionApp 'app/functionapp.bicep' = {",
        ),
      contract,
      'main.bicep must deploy module functionApp only if \\(!useContainerApp\\), not if \\(always\\)',
    ],
    [
      'the postdeploy hook is not told the plan',
      () => edited('infra/main.bicep', 'output HOSTING_PLAN string = hostingPlan\n', ''),
      contract,
      'main.bicep must output HOSTING_PLAN',
    ],
    [
      'a re-provision puts the placeholder image back',
      () => edited('infra/main.bicep', 'image: containerAppImage!.outputs.image', "image: ''"),
      contract,
      'a re-provision must keep the deployed image',
    ],
    [
      'the image is built from another base image',
      () =>
        edited(
          dockerfile,
          'ARG FUNCTIONS_NODE_IMAGE=mcr.microsoft.com/azure-functions/node:4-node20',
          'ARG FUNCTIONS_NODE_IMAGE=node:20-bookworm',
        ),
      contract,
      'infra/container/Dockerfile must build the shipped image from mcr.microsoft.com/azure-functions/node:4-node<N>, not node:20-bookworm',
    ],
    [
      'the image runs another Node than Flex Consumption',
      () => edited(dockerfile, 'azure-functions/node:4-node20', 'azure-functions/node:4-node22'),
      contract,
      'infra/container/Dockerfile builds on Node 22, but the Flex Consumption app runs Node 20',
    ],
    [
      'the image has no venv module',
      () => edited(dockerfile, ' python3-venv', ''),
      contract,
      'must apt-get install python3 and python3-venv in the shipped image',
    ],
    [
      'the image has no virtual environment',
      () => edited(dockerfile, ' \\\n  && python3 -m venv /opt/tasks-venv', ''),
      contract,
      'must create a virtual environment',
    ],
    [
      'PARALLEL_JOB_PYTHON is the system interpreter',
      () =>
        edited(
          dockerfile,
          'ENV PARALLEL_JOB_PYTHON=/opt/tasks-venv/bin/python',
          'ENV PARALLEL_JOB_PYTHON=/usr/bin/python3',
        ),
      contract,
      'must set ENV PARALLEL_JOB_PYTHON=/opt/tasks-venv/bin/python \\(it sets /usr/bin/python3\\)',
    ],
    [
      "the tasks' packages go into the system Python",
      () => edited(dockerfile, '/opt/tasks-venv/bin/python -m pip install', 'pip3 install'),
      contract,
      "must install the tasks' requirements.txt with /opt/tasks-venv's pip",
    ],
    [
      'requirements.txt becomes mandatory',
      () => edited(dockerfile, 'if [ -f /tmp/tasks-python/requirements.txt ]; then', 'if true; then'),
      contract,
      'must install /tmp/tasks-python/requirements.txt only when it exists',
    ],
    [
      "requirements.txt is not the tasks' one",
      () =>
        edited(
          dockerfile,
          'if [ -f /context/tasks/requirements.txt ]; then cp /context/tasks/requirements.txt /optional/python/; fi',
          'cp /context/requirements.txt /optional/python/',
        ),
      contract,
      'must be tasks/requirements.txt of the build context, copied only when it exists',
    ],
    [
      'the Python runtime is left out of the image',
      () => edited(dockerfile, 'COPY --from=build /app/src ./src\n', ''),
      contract,
      'must copy src/ with src/task/python/\\*\\*/\\*\\.py into /home/site/wwwroot',
    ],
    [
      'the Python runtime is deleted with the TypeScript',
      () =>
        edited(
          dockerfile,
          "find src -name '*.ts' -delete",
          "find src \\( -name '*.ts' -o -name '*.py' \\) -delete",
        ),
      contract,
      'must copy src/ with src/task/python/\\*\\*/\\*\\.py into /home/site/wwwroot',
    ],
    [
      'the image ships the dev dependencies',
      () => edited(dockerfile, 'npm ci --omit=dev', 'npm ci'),
      contract,
      'must copy node_modules from a stage that runs npm ci --omit=dev',
    ],
    [
      'the image has no tasks folder',
      () => edited(dockerfile, 'COPY --from=optional-files /optional/tasks ./tasks\n', ''),
      contract,
      'must copy tasks into /home/site/wwwroot',
    ],
    [
      'the container project deploys a Function App',
      () => edited(containerProject, 'host: containerapp', 'host: function'),
      contract,
      'infra/container/azure.yaml: service api must have host: containerapp',
    ],
    [
      'the root project does not guard its plan',
      () => edited('azure.yaml', / {2}preprovision:\n( {4}.*\n)+/, ''),
      contract,
      'azure.yaml: the preprovision hook must run infra/hooks/hosting-plan.sh flexconsumption',
    ],
    [
      'the container project guards the wrong plan',
      () => edited(containerProject, 'hosting-plan.sh containerapp', 'hosting-plan.sh flexconsumption'),
      contract,
      'infra/container/azure.yaml: the preprovision hook must run infra/hooks/hosting-plan.sh containerapp',
    ],
    [
      'the container service folder is the repository root (docker paths then depend on the azd version)',
      () =>
        edited(containerProject, 'project: .\n    language: docker', 'project: ../..\n    language: docker'),
      contract,
      "service api's project must be the file's own folder",
    ],
    [
      'the container project builds another Dockerfile',
      () => edited(containerProject, 'path: ./Dockerfile', 'path: ./Dockerfile.dev'),
      contract,
      'infra/container/azure.yaml: docker.path must be infra/container/Dockerfile',
    ],
    [
      'the build context is not the repository root',
      () => edited(containerProject, 'context: ../..', 'context: ..'),
      contract,
      'infra/container/azure.yaml: docker.context must be the repository root',
    ],
    [
      "azd deploys with another API version than the container app's",
      () => edited(containerProject, 'apiVersion: 2024-10-02-preview', 'apiVersion: 2023-05-01'),
      contract,
      'must deploy with apiVersion 2024-10-02-preview',
    ],
    [
      'the container project has no postdeploy hook',
      () => edited(containerProject, 'run: ../hooks/postdeploy.sh', 'run: ./postdeploy.sh'),
      contract,
      'infra/container/azure.yaml has no postdeploy hook',
    ],
    [
      'azd cannot find the container app',
      () => edited(containerModule, "tags: union(tags, { 'azd-service-name': 'api' })", 'tags: tags'),
      contract,
      "the app must carry the tag azd-service-name: 'api' for infra/container/azure.yaml",
    ],
    [
      'the postdeploy hook cannot reach the container app',
      () => edited(hook, /"\$hosting_plan" = "containerapp"/g, '"$hosting_plan" = "functionapp"'),
      contract,
      'postdeploy.sh cannot reach the container option',
    ],
  );

  it.each(cases)('%s', (_name, broken, brokenContract, expected) => {
    const problems = checkTemplate(broken(), brokenContract);
    expect(problems.join('\n')).toMatch(new RegExp(expected));
  });
});
