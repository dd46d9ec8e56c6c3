/**
 * Reads the azd template (azure.yaml, infra/**) as text, together with host.json and functions/, and lists
 * every way it falls short of what the code needs. Nothing here can reach Azure or run the Bicep compiler,
 * so the checks work on the template's own conventions: named `var` blocks in main.bicep and the modules.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  arrayItems,
  bracketed,
  declaration,
  hasProperty,
  objectEntries,
  objectKeys,
  secureParams,
  stringVars,
} from './bicepText';

export interface TemplateFiles {
  /** Path relative to the repo root -> text, for azure.yaml, host.json, package.json, infra/** and functions/*.ts. */
  files: Map<string, string>;
}

export interface AppContract {
  schemaKeys: readonly string[];
  /** Keys whose schema has a default (the app runs without them). */
  keysWithDefaults: readonly string[];
  blobContainers: readonly string[];
  serviceBusQueues: readonly string[];
  serviceBusTopics: readonly string[];
  roles: {
    storageAccount: readonly string[];
    serviceBusNamespace: readonly string[];
    applicationInsights: readonly string[];
    durableTaskScheduler: readonly string[];
  };
  settingsNotSetInAzure: Readonly<Record<string, string>>;
}

export function readTemplateFiles(repoRoot: string): TemplateFiles {
  const files = new Map<string, string>();
  const add = (relative: string): void => {
    files.set(relative, fs.readFileSync(path.join(repoRoot, relative), 'utf8'));
  };
  const walk = (relativeDir: string, keep: (name: string) => boolean): void => {
    const absolute = path.join(repoRoot, relativeDir);
    if (!fs.existsSync(absolute)) return;
    for (const entry of fs.readdirSync(absolute, { withFileTypes: true })) {
      const relative = path.posix.join(relativeDir, entry.name);
      if (entry.isDirectory()) walk(relative, keep);
      else if (keep(entry.name)) add(relative);
    }
  };
  add('azure.yaml');
  add('host.json');
  add('package.json');
  walk('infra', () => true);
  walk('functions', (name) => name.endsWith('.ts'));
  return { files };
}

export interface TemplateModel {
  /** App settings set whatever the parameters, name -> Bicep expression. */
  settings: Map<string, string>;
  /** App settings set only when the Durable Task Scheduler backend is selected. */
  durableTaskSchedulerSettings: Map<string, string>;
}

export function readAppSettings(template: TemplateFiles): TemplateModel {
  const main = template.files.get('infra/main.bicep') ?? '';
  const app = template.files.get('infra/app/functionapp.bicep') ?? '';
  const settings = new Map<string, string>();
  const appSettingsResource = declaration(app, 'resource', 'appSettings') ?? '';
  // Only the var blocks the appsettings resource actually merges count as set.
  const merged = [...appSettingsResource.matchAll(/\b(\w+Settings)\b/g)].map((m) => m[1] ?? '');
  for (const varName of new Set(merged)) {
    if (varName === 'durableTaskSchedulerSettings') continue;
    const block = declaration(app, 'var', varName);
    if (!block) continue;
    for (const [key, value] of objectEntries(block))
      if (objectKeys(block).includes(key)) settings.set(key, value);
    // parallelJobSettings folds in the job container settings passed from main.bicep.
    if (/union\(jobContainerSettings\b/.test(app.slice(app.indexOf(`var ${varName}`)))) {
      const containers = declaration(main, 'var', 'jobContainerSettings') ?? '';
      for (const [key, value] of objectEntries(containers)) settings.set(key, value);
    }
  }
  const durableBlock = merged.includes('durableTaskSchedulerSettings')
    ? (declaration(app, 'var', 'durableTaskSchedulerSettings') ?? '')
    : '';
  return { settings, durableTaskSchedulerSettings: objectEntries(durableBlock) };
}

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

export function checkSettings(template: TemplateFiles, contract: AppContract): string[] {
  const problems: string[] = [];
  const { settings, durableTaskSchedulerSettings } = readAppSettings(template);
  const hostResolved = hostResolvedSettings(template);
  for (const key of contract.schemaKeys) {
    if (key in contract.settingsNotSetInAzure) continue;
    const optional = contract.keysWithDefaults.includes(key) && !hostResolved.has(key);
    if (!optional && !settings.has(key)) {
      problems.push(`app setting ${key} is read by the app but not set by infra/app/functionapp.bicep`);
    }
  }
  for (const name of hostResolved) {
    if (!settings.has(name))
      problems.push(`%${name}% is resolved by the Functions host but no app setting sets it`);
  }
  for (const connection of hostConnections(template)) {
    const endpoint = ['__fullyQualifiedNamespace', '__serviceUri', '__blobServiceUri', '__accountName'].some(
      (suffix) => settings.has(`${connection}${suffix}`),
    );
    if (!endpoint) problems.push(`connection ${connection} has no identity-based endpoint setting`);
    for (const suffix of ['__credential', '__clientId']) {
      if (!settings.has(`${connection}${suffix}`))
        problems.push(`connection ${connection} lacks ${connection}${suffix}`);
    }
  }
  for (const key of settings.keys()) {
    if (
      /^(PARALLEL_JOB_|ServiceBusConnection|AzureWebJobsStorage)/.test(key) &&
      !contract.schemaKeys.includes(key)
    ) {
      problems.push(
        `infra sets ${key}, which src/config.ts does not declare (a typo, or a setting nobody reads)`,
      );
    }
  }
  if (!durableTaskSchedulerSettings.has('DURABLE_TASK_SCHEDULER_CONNECTION_STRING')) {
    problems.push('the Durable Task Scheduler option does not set DURABLE_TASK_SCHEDULER_CONNECTION_STRING');
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
  const { settings, durableTaskSchedulerSettings } = readAppSettings(template);
  // A setting may carry a secret only straight from a @secure() parameter (checkLinkSecret checks which).
  const secure = secureParams(template.files.get('infra/app/functionapp.bicep') ?? '');
  const keyFree = new Set([
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
  ]);
  for (const [key, value] of [...settings, ...durableTaskSchedulerSettings]) {
    if (key === 'AzureWebJobsStorage' || key === 'ServiceBusConnection') {
      problems.push(`app setting ${key} is a connection string; use the identity-based ${key}__* settings`);
    }
    if (/connection_?string$/i.test(key) && !keyFree.has(key))
      problems.push(`app setting ${key} holds a connection string`);
    if (/key|secret|password|sas/i.test(value) && !/clientId|ClientID/.test(value) && !secure.has(value)) {
      problems.push(`app setting ${key} = ${value} looks like it carries a secret`);
    }
  }
  const dts = durableTaskSchedulerSettings.get('DURABLE_TASK_SCHEDULER_CONNECTION_STRING');
  if (dts !== undefined && !dts.includes('Authentication=ManagedIdentity')) {
    problems.push('DURABLE_TASK_SCHEDULER_CONNECTION_STRING must use Authentication=ManagedIdentity');
  }
  const monitoring = template.files.get('infra/app/monitoring.bicep');
  if (
    settings.has('APPLICATIONINSIGHTS_CONNECTION_STRING') &&
    !hasProperty(monitoring, 'DisableLocalAuth', 'true')
  ) {
    problems.push(
      'Application Insights must have DisableLocalAuth: true when its connection string is a setting',
    );
  }
  return problems;
}

/**
 * The download-link key: set as PARALLEL_JOB_LINK_SECRET straight from a @secure() parameter of the app
 * module, fed by a @secure() parameter of main.bicep that generates it (newGuid) unless given.
 */
export function checkLinkSecret(template: TemplateFiles): string[] {
  const problems: string[] = [];
  const main = template.files.get('infra/main.bicep') ?? '';
  const app = template.files.get('infra/app/functionapp.bicep') ?? '';
  const value = readAppSettings(template).settings.get('PARALLEL_JOB_LINK_SECRET');
  if (value === undefined) return ['PARALLEL_JOB_LINK_SECRET is not set by infra/app/functionapp.bicep'];
  if (!secureParams(app).has(value)) {
    problems.push(
      `PARALLEL_JOB_LINK_SECRET must come straight from a @secure() parameter of infra/app/functionapp.bicep (it is ${value})`,
    );
    return problems;
  }
  const passed = new RegExp(`^\\s*${value}: (\\w+)$`, 'm').exec(
    declaration(main, 'module', 'functionApp') ?? '',
  );
  const source = passed?.[1];
  if (!source || !secureParams(main).has(source)) {
    problems.push(`main.bicep must pass ${value} to the app module from a @secure() parameter`);
  } else if (!new RegExp(`^param ${source} string = .*newGuid\\(\\)`, 'm').test(main)) {
    problems.push(`main.bicep parameter ${source} must default to a generated value (newGuid())`);
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
  ];
  for (const [what, text, property, value] of required) {
    if (!hasProperty(text, property, value)) problems.push(`${what} must set ${property}: ${value}`);
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

export function checkRoles(template: TemplateFiles, contract: AppContract): string[] {
  const problems: string[] = [];
  const main = template.files.get('infra/main.bicep') ?? '';
  const roleIds = JSON.parse(template.files.get('infra/app/builtin-roles.json') ?? '{}') as Record<
    string,
    string
  >;
  const appIdentity = /identityId: identity\.outputs\.id\b/.test(
    declaration(main, 'module', 'functionApp') ?? '',
  );
  if (!appIdentity) problems.push('the function app does not run as the identity the roles are assigned to');
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
  ];
}
