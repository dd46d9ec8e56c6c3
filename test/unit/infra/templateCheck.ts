/**
 * Lists every way the azd template (azure.yaml, infra/**) falls short of what the code needs, read together
 * with host.json and functions/. Nothing here can reach Azure or run the Bicep compiler, so the checks work on
 * the template's own conventions: named `var` blocks in main.bicep and the modules (templateModel.ts).
 */
import {
  arrayItems,
  bracketed,
  declaration,
  hasProperty,
  objectEntries,
  secureParams,
  stringVars,
} from './bicepText';
import { checkAzdProjects, checkContainerImage, checkHostingChoice } from './containerCheck';
import {
  type AppContract,
  blockMaps,
  containerApp,
  flexConsumption,
  hostingOptions,
  literalValue,
  readAppSettings,
  type TemplateFiles,
} from './templateModel';

/** Settings only the container option sets: the image's Python interpreter. */
const containerOnlySettings = ['PARALLEL_JOB_PYTHON'];

/** `%NAME%` references that the Functions host resolves from app settings (host.json, trigger options). */
function hostResolvedSettings(template: TemplateFiles): Set<string> {
  const names = new Set<string>();
  for (const [file, text] of template.files) {
    if (file !== 'host.json' && !file.startsWith('functions/')) continue;
    for (const match of text.matchAll(/%([A-Za-z_][\w]*)%/g)) if (match[1]) names.add(match[1]);
  }
  return names;
}

/** Connection names the host resolves: trigger `connection:` options and the Durable storage provider. */
function hostConnections(template: TemplateFiles): Set<string> {
  const names = new Set<string>();
  for (const [file, text] of template.files) {
    if (file.startsWith('functions/')) {
      for (const match of text.matchAll(/connection:\s*'([^']+)'/g)) if (match[1]) names.add(match[1]);
    }
  }
  const host = template.files.get('host.json') ?? '{}';
  for (const match of host.matchAll(/"connection(?:String)?Name"\s*:\s*"([^"]+)"/g))
    if (match[1]) names.add(match[1]);
  return names;
}

/** The settings rule of docs/deploy.md, for each hosting option; each names the plan it is. */
export function checkSettings(template: TemplateFiles, contract: AppContract): string[] {
  const problems: string[] = [];
  const hostResolved = hostResolvedSettings(template);
  for (const option of hostingOptions) {
    const { settings, durableTaskSchedulerSettings } = readAppSettings(template, option);
    const app = template.files.get(option.module) ?? '';
    for (const key of contract.schemaKeys) {
      if (key in contract.settingsNotSetInAzure) continue;
      const optional = contract.keysWithDefaults.includes(key) && !hostResolved.has(key);
      if (!optional && !settings.has(key)) {
        problems.push(`app setting ${key} is read by the app but not set by ${option.module}`);
      }
    }
    for (const name of hostResolved) {
      if (!settings.has(name))
        problems.push(
          `%${name}% is resolved by the Functions host but no app setting of ${option.module} sets it`,
        );
    }
    for (const connection of hostConnections(template)) {
      const endpoint = [
        '__fullyQualifiedNamespace',
        '__serviceUri',
        '__blobServiceUri',
        '__accountName',
      ].some((suffix) => settings.has(`${connection}${suffix}`));
      if (!endpoint)
        problems.push(`connection ${connection} has no identity-based endpoint setting in ${option.module}`);
      for (const suffix of ['__credential', '__clientId']) {
        if (!settings.has(`${connection}${suffix}`))
          problems.push(`connection ${connection} lacks ${connection}${suffix} in ${option.module}`);
      }
    }
    for (const key of settings.keys()) {
      if (
        /^(PARALLEL_JOB_|ServiceBusConnection|AzureWebJobsStorage)/.test(key) &&
        !contract.schemaKeys.includes(key)
      ) {
        problems.push(
          `infra sets ${key}, which src/config.ts does not declare (a typo, or a setting nobody reads; ${option.module})`,
        );
      }
    }
    if (!durableTaskSchedulerSettings.has('DURABLE_TASK_SCHEDULER_CONNECTION_STRING')) {
      problems.push(
        `the Durable Task Scheduler option does not set DURABLE_TASK_SCHEDULER_CONNECTION_STRING in ${option.module}`,
      );
    }
    const plan = literalValue(settings.get('PARALLEL_JOB_HOSTING_PLAN'), app);
    if (plan !== option.plan) {
      problems.push(
        `${option.module} must set PARALLEL_JOB_HOSTING_PLAN to '${option.plan}' (it sets ${plan ?? 'nothing'})`,
      );
    }
    if (
      option.plan === 'containerapp' &&
      literalValue(settings.get('PARALLEL_JOB_PYTHON'), app) === undefined
    ) {
      problems.push(`${option.module} must set PARALLEL_JOB_PYTHON to the image's Python interpreter`);
    }
  }
  return problems;
}

/**
 * The two hosting options set the same settings to the same values, apart from the plan itself and the
 * container's Python interpreter: the modules repeat the same setting blocks, and this keeps them in step.
 */
export function checkHostingOptionsAgree(template: TemplateFiles): string[] {
  const problems: string[] = [];
  const [flex, container] = [flexConsumption, containerApp].map((option) => {
    const model = readAppSettings(template, option);
    return new Map([...model.settings, ...model.durableTaskSchedulerSettings]);
  });
  if (!flex || !container) return problems;
  for (const [key, value] of flex) {
    if (key === 'PARALLEL_JOB_HOSTING_PLAN') continue;
    const other = container.get(key);
    if (other === undefined)
      problems.push(`${containerApp.module} does not set ${key}, which ${flexConsumption.module} sets`);
    else if (other !== value)
      problems.push(`${key} is ${value} in ${flexConsumption.module} but ${other} in ${containerApp.module}`);
  }
  for (const key of container.keys()) {
    if (!flex.has(key) && !containerOnlySettings.includes(key))
      problems.push(`${containerApp.module} sets ${key}, which ${flexConsumption.module} does not`);
  }
  return problems;
}

export function checkSecrets(template: TemplateFiles): string[] {
  const problems: string[] = [];
  const forbidden = [
    'listKeys(',
    'listConnectionStrings(',
    'listSecrets(',
    'AccountKey=',
    'SharedAccessKey',
    'primaryKey',
    'passwordSecretRef',
  ];
  for (const [file, text] of template.files) {
    if (!file.startsWith('infra/') || file.endsWith('.sh')) continue;
    for (const word of forbidden) {
      if (text.toLowerCase().includes(word.toLowerCase())) problems.push(`${file} uses ${word}`);
    }
    for (const match of text.matchAll(/^output (\w+) \w+ = (.+)$/gm)) {
      if (/connectionstring|key|secret|password/i.test(`${match[1]} ${match[2]}`)) {
        problems.push(`${file} outputs ${match[1]}, which looks like a secret or connection string`);
      }
    }
  }
  const keyFree = new Set([
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
  ]);
  for (const option of hostingOptions) {
    const app = template.files.get(option.module) ?? '';
    const { settings, durableTaskSchedulerSettings, byReference, referencedBlocks } = readAppSettings(
      template,
      option,
    );
    // A setting may carry a secret only straight from a @secure() parameter (checkLinkSecret checks which).
    const secure = secureParams(app);
    for (const [key, value] of [...settings, ...durableTaskSchedulerSettings]) {
      if (key === 'AzureWebJobsStorage' || key === 'ServiceBusConnection') {
        problems.push(`app setting ${key} is a connection string; use the identity-based ${key}__* settings`);
      }
      if (/connection_?string$/i.test(key) && !keyFree.has(key))
        problems.push(`app setting ${key} holds a connection string`);
      if (/key|secret|password|sas/i.test(value) && !/clientId|ClientID/.test(value) && !secure.has(value)) {
        problems.push(`app setting ${key} = ${value} looks like it carries a secret`);
      }
      // Container Apps shows environment values to anyone who can read the app; secrets it does not.
      if (option.plan === 'containerapp' && secure.has(value) && !byReference.has(key)) {
        problems.push(
          `${option.module}: ${key} reaches the container as a plain environment value; make it a container app secret (secretRef)`,
        );
      }
    }
    // Every secretRef must name a secret the app declares, made from the same block under the same name:
    // the app resource's `secrets:` is a var that maps that block.
    const secretsVar = /^\s*secrets: (\w+)$/m.exec(
      declaration(app, 'resource', option.appResource) ?? '',
    )?.[1];
    const secretsAt = secretsVar ? app.search(new RegExp(`^var ${secretsVar} = map\\(`, 'm')) : -1;
    const secrets = secretsAt < 0 ? undefined : blockMaps(app.slice(secretsAt))[0];
    const secretName = secrets && /^\s*name:\s*(.+)$/m.exec(secrets.body)?.[1]?.trim();
    for (const [block, referenceName] of referencedBlocks) {
      if (secrets?.block !== block || secretName !== referenceName) {
        problems.push(
          `${option.module}: the settings of ${block} refer to container app secrets (${referenceName}) that the app does not declare in its secrets`,
        );
      }
    }
    const dts = durableTaskSchedulerSettings.get('DURABLE_TASK_SCHEDULER_CONNECTION_STRING');
    if (dts !== undefined && !dts.includes('Authentication=ManagedIdentity')) {
      problems.push(
        `DURABLE_TASK_SCHEDULER_CONNECTION_STRING must use Authentication=ManagedIdentity (${option.module})`,
      );
    }
  }
  const sendsTelemetry = hostingOptions.some((option) =>
    readAppSettings(template, option).settings.has('APPLICATIONINSIGHTS_CONNECTION_STRING'),
  );
  if (
    sendsTelemetry &&
    !hasProperty(template.files.get('infra/app/monitoring.bicep'), 'DisableLocalAuth', 'true')
  ) {
    problems.push(
      'Application Insights must have DisableLocalAuth: true when its connection string is a setting',
    );
  }
  return problems;
}

/**
 * The download-link key: set as PARALLEL_JOB_LINK_SECRET straight from a @secure() parameter of each app
 * module, fed by a @secure() parameter of main.bicep that generates it (newGuid) unless given.
 */
export function checkLinkSecret(template: TemplateFiles): string[] {
  const problems: string[] = [];
  const main = template.files.get('infra/main.bicep') ?? '';
  for (const option of hostingOptions) {
    const app = template.files.get(option.module) ?? '';
    const value = readAppSettings(template, option).settings.get('PARALLEL_JOB_LINK_SECRET');
    if (value === undefined) {
      problems.push(`PARALLEL_JOB_LINK_SECRET is not set by ${option.module}`);
      continue;
    }
    if (!secureParams(app).has(value)) {
      problems.push(
        `PARALLEL_JOB_LINK_SECRET must come straight from a @secure() parameter of ${option.module} (it is ${value})`,
      );
      continue;
    }
    const passed = new RegExp(`^\\s*${value}: (\\w+)$`, 'm').exec(
      declaration(main, 'module', option.mainModule) ?? '',
    );
    const source = passed?.[1];
    if (!source || !secureParams(main).has(source)) {
      problems.push(
        `main.bicep must pass ${value} to the app module from a @secure() parameter (module ${option.mainModule})`,
      );
    } else if (!new RegExp(`^param ${source} string = .*newGuid\\(\\)`, 'm').test(main)) {
      problems.push(`main.bicep parameter ${source} must default to a generated value (newGuid())`);
    }
  }
  return problems;
}

/**
 * Durable Functions reaches its storage with the app's identity: host.json names the connection with
 * `connectionName` (the identity-capable form), not `connectionStringName`, and that connection has
 * identity-based settings (checkSettings).
 */
export function checkDurableStorage(template: TemplateFiles): string[] {
  const host = JSON.parse(template.files.get('host.json') ?? '{}') as {
    extensions?: { durableTask?: { storageProvider?: Record<string, unknown> } };
  };
  const provider = host.extensions?.durableTask?.storageProvider ?? {};
  const problems: string[] = [];
  if ('connectionStringName' in provider)
    problems.push('host.json durableTask.storageProvider uses connectionStringName; use connectionName');
  if (typeof provider.connectionName !== 'string' || provider.connectionName === '')
    problems.push('host.json durableTask.storageProvider must name its connection with connectionName');
  return problems;
}

/**
 * No key or secret on a command line in infra/hooks: a process's arguments are visible to every user of
 * the machine (ps, /proc) and often end up in CI logs. A variable is secret when its name says so or its
 * value comes from a key listing or another secret variable; it may then appear only in assignments,
 * `[ -n/-z ... ]` tests and here-document bodies (which a command reads on stdin).
 */
export function checkHooks(template: TemplateFiles): string[] {
  const problems: string[] = [];
  for (const [file, text] of template.files) {
    if (!file.startsWith('infra/hooks/') || !file.endsWith('.sh')) continue;
    const secret = new Set<string>();
    const lines = text.split('\n');
    // Assignments may span continuation lines: join them first.
    const statements: { line: number; text: string }[] = [];
    for (let i = 0; i < lines.length; i++) {
      let statement = lines[i] ?? '';
      const start = i;
      while (statement.endsWith('\\') && i + 1 < lines.length)
        statement = `${statement.slice(0, -1)} ${lines[++i]}`;
      statements.push({ line: start + 1, text: statement });
    }
    const uses = (statement: string): string[] =>
      [...statement.matchAll(/\$\{?([A-Za-z_]\w*)/g)]
        .map((m) => m[1] ?? '')
        .filter((name) => secret.has(name));
    let hereDoc: string | undefined;
    for (const { line, text: statement } of statements) {
      const trimmed = statement.trim();
      if (hereDoc !== undefined) {
        if (trimmed === hereDoc) hereDoc = undefined;
        continue;
      }
      if (trimmed.startsWith('#') || trimmed === '') continue;
      const assignment = /^([A-Za-z_]\w*)=(.*)$/.exec(trimmed);
      if (assignment) {
        const [, name = '', value = ''] = assignment;
        if (
          /key|secret|password|token/i.test(name) ||
          /keys list|listKeys|list-keys|--query "?[^"]*[Kk]ey/.test(value) ||
          uses(value).length > 0
        )
          secret.add(name);
        continue;
      }
      const here = /<<-?\s*'?(\w+)'?/.exec(trimmed);
      if (here) hereDoc = here[1];
      // A shell builtin test starts no process; the rest of the line still counts.
      const command = trimmed.replace(/\[ -[nz] "\$\{?\w+\}?" \]/g, '').replace(/<<-?\s*'?\w+'?.*$/, '');
      const named = uses(command);
      if (named.length > 0)
        problems.push(
          `${file}:${line} puts secret ${named.map((n) => `$${n}`).join(', ')} on a command line`,
        );
    }
  }
  return problems;
}

export function checkHardening(template: TemplateFiles): string[] {
  const problems: string[] = [];
  const storage = declaration(template.files.get('infra/app/storage.bicep') ?? '', 'resource', 'storage');
  const site = declaration(
    template.files.get('infra/app/functionapp.bicep') ?? '',
    'resource',
    'functionApp',
  );
  const plan = declaration(template.files.get('infra/app/functionapp.bicep') ?? '', 'resource', 'plan');
  const serviceBus = declaration(
    template.files.get('infra/app/servicebus.bicep') ?? '',
    'resource',
    'serviceBusNamespace',
  );
  const containerModule = template.files.get(containerApp.module) ?? '';
  const container = declaration(containerModule, 'resource', containerApp.appResource);
  const environment = declaration(containerModule, 'resource', 'environment');
  const registry = declaration(template.files.get('infra/app/registry.bicep') ?? '', 'resource', 'registry');
  const required: [string, string | undefined, string, string][] = [
    ['storage account', storage, 'allowSharedKeyAccess', 'false'],
    ['storage account', storage, 'allowBlobPublicAccess', 'false'],
    ['storage account', storage, 'supportsHttpsTrafficOnly', 'true'],
    ['storage account', storage, 'minimumTlsVersion', "'TLS1_2'"],
    ['function app', site, 'httpsOnly', 'true'],
    ['function app', site, 'minTlsVersion', "'1.2'"],
    ['function app', site, 'name', "'node'"],
    ['function app', site, 'version', "'20'"],
    ['function app', site, 'maximumInstanceCount', 'maximumInstanceCount'],
    ['function app', site, 'instanceMemoryMB', 'instanceMemoryMB'],
    ['app service plan', plan, 'tier', "'FlexConsumption'"],
    ['app service plan', plan, 'name', "'FC1'"],
    ['service bus namespace', serviceBus, 'disableLocalAuth', 'true'],
    ['service bus namespace', serviceBus, 'minimumTlsVersion', "'1.2'"],
    // The container option: a Functions app on Container Apps, HTTPS only, its image pulled with the app
    // identity, logs routed without the workspace's key, and the same scale limit as Flex Consumption.
    ['container app', container, 'kind', "'functionapp'"],
    ['container app', container, 'allowInsecure', 'false'],
    ['container app', container, 'identity', 'identityId'],
    ['container app', container, 'maxReplicas', 'maximumInstanceCount'],
    ['container apps environment', environment, 'destination', "'azure-monitor'"],
    ['container registry', registry, 'adminUserEnabled', 'false'],
    ['container registry', registry, 'anonymousPullEnabled', 'false'],
  ];
  for (const [what, text, property, value] of required) {
    if (!hasProperty(text, property, value)) problems.push(`${what} must set ${property}: ${value}`);
  }
  // Container Apps scales Durable Functions work only with the Durable Task Scheduler backend: with Azure
  // Storage a replica must always run, or orchestrations wait for some other trigger to start one.
  if (
    !/minReplicas:\s*durableBackend == 'AzureStorage'\s*\?\s*max\(1, alwaysReadyDurableInstances\)\s*:\s*alwaysReadyDurableInstances\s*$/m.test(
      container ?? '',
    )
  ) {
    problems.push('container app must keep at least one replica (minReplicas) with the AzureStorage backend');
  }
  if (
    !/^resource \w+ 'Microsoft\.Insights\/diagnosticSettings@[^']+' = \{\s*name: [^\n]+\s*scope: environment$/m.test(
      containerModule,
    )
  ) {
    problems.push(
      'container apps environment must send its logs to the workspace through a diagnostic setting',
    );
  }
  return problems;
}

export function checkResources(template: TemplateFiles, contract: AppContract): string[] {
  const problems: string[] = [];
  const main = template.files.get('infra/main.bicep') ?? '';
  const vars = stringVars(main);
  const containerSettings = objectEntries(declaration(main, 'var', 'jobContainerSettings') ?? '');
  const containerNames = [...containerSettings.values()].map((value) => /^'(.*)'$/.exec(value)?.[1]);
  const storageModule = declaration(main, 'module', 'storage') ?? '';
  const storageBicep = template.files.get('infra/app/storage.bicep') ?? '';
  const containersCreated =
    /containerNames: .*items\(jobContainerSettings\)/.test(storageModule) &&
    /for containerName in containerNames/.test(declaration(storageBicep, 'resource', 'containers') ?? '');
  for (const container of contract.blobContainers) {
    if (!containerNames.includes(container) || !containersCreated) {
      problems.push(`blob container '${container}' is used by the code but not created by infra`);
    }
  }
  const serviceBusModule = declaration(main, 'module', 'serviceBus') ?? '';
  const serviceBusBicep = template.files.get('infra/app/servicebus.bicep') ?? '';
  const created = (kind: 'queueNames' | 'topicNames'): string[] => {
    const match = new RegExp(`${kind}:`).exec(serviceBusModule);
    const list = match ? bracketed(serviceBusModule, match.index + match[0].length) : undefined;
    const loops = new RegExp(`for \\w+ in ${kind}:`).test(serviceBusBicep);
    return list && loops ? arrayItems(list, vars) : [];
  };
  for (const queue of contract.serviceBusQueues) {
    if (!created('queueNames').includes(queue))
      problems.push(`Service Bus queue '${queue}' is not created by infra`);
  }
  for (const topic of contract.serviceBusTopics) {
    if (!created('topicNames').includes(topic))
      problems.push(`Service Bus topic '${topic}' is not created by infra`);
  }
  return problems;
}

const roleScopes = [
  { scope: 'storageAccount', mainVar: 'appStorageRoles', module: 'rbac', param: 'storageRoles' },
  { scope: 'serviceBusNamespace', mainVar: 'appServiceBusRoles', module: 'rbac', param: 'serviceBusRoles' },
  {
    scope: 'applicationInsights',
    mainVar: 'appApplicationInsightsRoles',
    module: 'rbac',
    param: 'applicationInsightsRoles',
  },
  {
    scope: 'durableTaskScheduler',
    mainVar: 'appDurableTaskSchedulerRoles',
    module: 'durableTaskScheduler',
    param: 'roleNames',
  },
] as const;

/** The container option's registry: the app identity pulls its image, and may do nothing else there. */
const containerRegistryRoles = ['AcrPull'];

export function checkRoles(template: TemplateFiles, contract: AppContract): string[] {
  const problems: string[] = [];
  const main = template.files.get('infra/main.bicep') ?? '';
  const roleIds = JSON.parse(template.files.get('infra/app/builtin-roles.json') ?? '{}') as Record<
    string,
    string
  >;
  for (const option of hostingOptions) {
    const appIdentity = /identityId: identity\.outputs\.id\b/.test(
      declaration(main, 'module', option.mainModule) ?? '',
    );
    if (!appIdentity)
      problems.push(
        `the ${option.mainModule} module does not run the app as the identity the roles are assigned to`,
      );
  }
  // The registry's roles are the platform's (it pulls the image), not the code's: not in azureResourceContract.
  const registryRoles = arrayItems(declaration(main, 'var', 'appContainerRegistryRoles') ?? '[]', new Map());
  const registryModule = declaration(main, 'module', 'containerRegistry') ?? '';
  const registryWired =
    /^\s*roleNames: appContainerRegistryRoles$/m.test(registryModule) &&
    /^\s*principalId: identity\.outputs\.principalId$/m.test(registryModule) &&
    /for roleName in roleNames: \{[\s\S]*scope: registry$/m.test(
      template.files.get('infra/app/registry.bicep') ?? '',
    );
  for (const role of containerRegistryRoles) {
    if (!registryRoles.includes(role) || !registryWired)
      problems.push(`role '${role}' on the container registry is not assigned to the app identity`);
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(roleIds[role] ?? '')) {
      problems.push(`role '${role}' has no role definition id in infra/app/builtin-roles.json`);
    }
  }
  for (const role of registryRoles) {
    if (!containerRegistryRoles.includes(role))
      problems.push(
        `role '${role}' on the container registry is assigned but only pulling the image is needed`,
      );
  }
  for (const { scope, mainVar, module, param } of roleScopes) {
    const assigned = arrayItems(declaration(main, 'var', mainVar) ?? '[]', new Map());
    const moduleText = declaration(main, 'module', module) ?? '';
    const wired =
      new RegExp(`^\\s*${param}: ${mainVar}$`, 'm').test(moduleText) &&
      /^\s*principalId: identity\.outputs\.principalId$/m.test(moduleText);
    for (const role of contract.roles[scope]) {
      if (!assigned.includes(role) || !wired)
        problems.push(`role '${role}' on the ${scope} is not assigned to the app identity`);
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(roleIds[role] ?? '')) {
        problems.push(`role '${role}' has no role definition id in infra/app/builtin-roles.json`);
      }
    }
    for (const role of assigned) {
      if (!contract.roles[scope].includes(role)) {
        problems.push(
          `role '${role}' on the ${scope} is assigned but not in azureResourceContract (least privilege)`,
        );
      }
    }
  }
  return problems;
}

export function checkBlobTrigger(template: TemplateFiles): string[] {
  const problems: string[] = [];
  const main = template.files.get('infra/main.bicep') ?? '';
  const functionName = stringVars(main).get('submitFromBlobFunctionName');
  const eventGrid = template.files.get('infra/app/eventgrid.bicep') ?? '';
  if (!/topicType: 'Microsoft\.Storage\.StorageAccounts'/.test(eventGrid)) {
    problems.push(
      'no Event Grid system topic on the storage account (Flex Consumption blob triggers need it)',
    );
  }
  const yaml = template.files.get('azure.yaml') ?? '';
  const hook = template.files.get('infra/hooks/postdeploy.sh') ?? '';
  if (
    !/postdeploy:[\s\S]*run: \.\/infra\/hooks\/postdeploy\.sh/.test(yaml) ||
    !hook.includes('blobs_extension')
  ) {
    problems.push('azure.yaml has no postdeploy hook that subscribes the blob trigger to Event Grid');
  }
  // The container option reaches its app with az containerapp; the hook picks the commands by HOSTING_PLAN.
  if (!/"\$hosting_plan" = "containerapp"/.test(hook) || !hook.includes('az containerapp function keys')) {
    problems.push('infra/hooks/postdeploy.sh cannot reach the container option (HOSTING_PLAN=containerapp)');
  }
  for (const [file, text] of template.files) {
    if (!file.startsWith('functions/')) continue;
    for (const match of text.matchAll(/app\.storageBlob\(\s*'([^']+)'/g)) {
      const options = bracketed(text, (match.index ?? 0) + match[0].length) ?? '';
      if (!/source:\s*'EventGrid'/.test(options)) {
        problems.push(
          `${file}: blob trigger ${match[1]} must declare source: 'EventGrid' on Flex Consumption`,
        );
      }
      if (match[1] !== functionName) {
        problems.push(
          `${file}: blob trigger ${match[1]} is not the function the postdeploy hook subscribes (${functionName})`,
        );
      }
    }
  }
  return problems;
}

export function checkTemplate(template: TemplateFiles, contract: AppContract): string[] {
  return [
    ...checkSettings(template, contract),
    ...checkSecrets(template),
    ...checkHardening(template),
    ...checkResources(template, contract),
    ...checkRoles(template, contract),
    ...checkBlobTrigger(template),
    ...checkLinkSecret(template),
    ...checkDurableStorage(template),
    ...checkHooks(template),
    ...checkHostingOptionsAgree(template),
    ...checkHostingChoice(template),
    ...checkContainerImage(template),
    ...checkAzdProjects(template),
  ];
}
