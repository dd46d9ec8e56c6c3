/**
 * The azd template as the checks see it: its files as text (azure.yaml, infra/**, host.json, package.json,
 * functions/), the two hosting options, and the settings each option gives the app, read from the Bicep
 * modules' named `var` blocks. Nothing here can reach Azure or run the Bicep compiler.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bracketed, declaration, declarationValue, objectEntries, objectKeys, stringVars } from './bicepText';

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

/**
 * One way the template runs the app, chosen by main.bicep's hostingPlan (azd environment value
 * PARALLEL_JOB_HOSTING_PLAN). Both set the same settings from the same blocks; only the hosting differs.
 */
export interface HostingOption {
  plan: 'flexconsumption' | 'containerapp';
  /** The module that creates the app and sets its settings. */
  module: string;
  /** Its module declaration in main.bicep. */
  mainModule: string;
  /** The app resource in the module (azd finds it by its azd-service-name tag). */
  appResource: string;
  /** The declaration in the module that gathers the setting blocks the app gets. */
  settings: { kind: 'resource' | 'var'; name: string };
}

export const flexConsumption: HostingOption = {
  plan: 'flexconsumption',
  module: 'infra/app/functionapp.bicep',
  mainModule: 'functionApp',
  appResource: 'functionApp',
  settings: { kind: 'resource', name: 'appSettings' },
};

export const containerApp: HostingOption = {
  plan: 'containerapp',
  module: 'infra/app/containerapp.bicep',
  mainModule: 'containerApp',
  appResource: 'app',
  settings: { kind: 'var', name: 'env' },
};

export const hostingOptions: readonly HostingOption[] = [flexConsumption, containerApp];

export interface TemplateModel {
  /** App settings set whatever the parameters, name -> Bicep expression. */
  settings: Map<string, string>;
  /** App settings set only when the Durable Task Scheduler backend is selected. */
  durableTaskSchedulerSettings: Map<string, string>;
  /** Settings that reach the app as a reference to a container app secret (`secretRef`), not as a value. */
  byReference: Set<string>;
  /** The blocks those come from, each with the secret name expression its `secretRef` uses. */
  referencedBlocks: Map<string, string>;
}

/** `map(items(<block>), <x> => { ... })` calls in a text: the mapped block and the lambda's body. */
export function blockMaps(text: string): { block: string; body: string }[] {
  const maps: { block: string; body: string }[] = [];
  for (const match of text.matchAll(/map\(\s*items\((\w+)\),\s*\w+\s*=>/g)) {
    const body = bracketed(text, (match.index ?? 0) + match[0].length);
    if (match[1] && body) maps.push({ block: match[1], body });
  }
  return maps;
}

export function readAppSettings(
  template: TemplateFiles,
  option: HostingOption = flexConsumption,
): TemplateModel {
  const main = template.files.get('infra/main.bicep') ?? '';
  const app = template.files.get(option.module) ?? '';
  const settings = new Map<string, string>();
  const byReference = new Set<string>();
  const gathered = declarationValue(app, option.settings.kind, option.settings.name) ?? '';
  // Only the var blocks the app's settings declaration actually gathers count as set.
  const merged = [...gathered.matchAll(/\b(\w+Settings)\b/g)].map((m) => m[1] ?? '');
  const referencedBlocks = new Map<string, string>();
  for (const { block, body } of blockMaps(gathered)) {
    const secretRef = /^\s*secretRef:\s*(.+)$/m.exec(body)?.[1];
    if (secretRef) referencedBlocks.set(block, secretRef.trim());
  }
  for (const varName of new Set(merged)) {
    if (varName === 'durableTaskSchedulerSettings') continue;
    const block = declaration(app, 'var', varName);
    if (!block) continue;
    for (const [key, value] of objectEntries(block)) {
      if (!objectKeys(block).includes(key)) continue;
      settings.set(key, value);
      if (referencedBlocks.has(varName)) byReference.add(key);
    }
    // parallelJobSettings folds in the job container settings passed from main.bicep.
    if (/union\(jobContainerSettings\b/.test(app.slice(app.indexOf(`var ${varName}`)))) {
      const containers = declaration(main, 'var', 'jobContainerSettings') ?? '';
      for (const [key, value] of objectEntries(containers)) settings.set(key, value);
    }
  }
  const durableBlock = merged.includes('durableTaskSchedulerSettings')
    ? (declaration(app, 'var', 'durableTaskSchedulerSettings') ?? '')
    : '';
  return {
    settings,
    durableTaskSchedulerSettings: objectEntries(durableBlock),
    byReference,
    referencedBlocks,
  };
}

/** A setting's value when it is a string literal, or a module variable that holds one. */
export function literalValue(expression: string | undefined, moduleText: string): string | undefined {
  if (expression === undefined) return undefined;
  return /^'([^'$]*)'$/.exec(expression)?.[1] ?? stringVars(moduleText).get(expression);
}
