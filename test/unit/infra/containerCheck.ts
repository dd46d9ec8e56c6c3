/**
 * The container option's own parts, checked like the rest of the template: the hosting plan chosen by an
 * azd environment value, the image built by infra/container/Dockerfile, and the two azd projects (the
 * repository root's azure.yaml for Flex Consumption, infra/container/azure.yaml for the container option).
 */
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { declaration } from './bicepText';
import {
  type CopyInstruction,
  copies,
  copyTarget,
  type DockerInstruction,
  type DockerStage,
  dockerStages,
  envValues,
  stageChain,
} from './dockerfile';
import {
  containerApp,
  flexConsumption,
  type HostingOption,
  hostingOptions,
  literalValue,
  readAppSettings,
  type TemplateFiles,
} from './templateModel';

/**
 * The hosting plan is an azd environment value, PARALLEL_JOB_HOSTING_PLAN (main.parameters.json), that
 * main.bicep's hostingPlan turns into exactly one app: Flex Consumption by default, or the container option
 * with its registry and its image lookup. A re-provision keeps the image azd deployed (apiExists).
 */
export function checkHostingChoice(template: TemplateFiles): string[] {
  const problems: string[] = [];
  const main = template.files.get('infra/main.bicep') ?? '';
  const parameters = JSON.parse(template.files.get('infra/main.parameters.json') ?? '{}') as {
    parameters?: Record<string, { value?: unknown }>;
  };
  const parameter = (name: string): unknown => parameters.parameters?.[name]?.value;
  const plans = hostingOptions.map((option) => option.plan);
  const allowed = /((?:^@[^\n]*\n|^ {2}'[^']*'\n|^\]\)\n)+)param hostingPlan string = '(\w+)'$/m.exec(main);
  const allowedPlans = [...(allowed?.[1] ?? '').matchAll(/^ {2}'([^']*)'$/gm)].map((m) => m[1]);
  if (allowed?.[2] !== 'flexconsumption' || plans.some((plan) => !allowedPlans.includes(plan))) {
    problems.push(
      `main.bicep must declare param hostingPlan, @allowed ${plans.join(' and ')}, defaulting to flexconsumption`,
    );
  }
  if (parameter('hostingPlan') !== '${PARALLEL_JOB_HOSTING_PLAN=flexconsumption}') {
    problems.push(
      'main.parameters.json must set hostingPlan from ${PARALLEL_JOB_HOSTING_PLAN=flexconsumption}',
    );
  }
  if (!/^var useContainerApp = hostingPlan == 'containerapp'$/m.test(main)) {
    problems.push("main.bicep must derive useContainerApp from hostingPlan == 'containerapp'");
  }
  const conditions: [string, string][] = [
    ['functionApp', '!useContainerApp'],
    ['containerApp', 'useContainerApp'],
    ['containerRegistry', 'useContainerApp'],
    ['containerAppImage', 'useContainerApp'],
  ];
  for (const [module, condition] of conditions) {
    const declared = new RegExp(`^module ${module} '[^']+' = if \\((!?\\w+)\\) \\{$`, 'm').exec(main)?.[1];
    if (declared !== condition)
      problems.push(
        `main.bicep must deploy module ${module} only if (${condition}), not if (${declared ?? 'always'})`,
      );
  }
  if (!/^output HOSTING_PLAN string = hostingPlan$/m.test(main)) {
    problems.push('main.bicep must output HOSTING_PLAN, which the postdeploy hook reads');
  }
  if (
    !/^output AZURE_CONTAINER_REGISTRY_ENDPOINT string = useContainerApp \? containerRegistry!\.outputs\.loginServer : ''$/m.test(
      main,
    )
  ) {
    problems.push('main.bicep must output AZURE_CONTAINER_REGISTRY_ENDPOINT, where azd pushes the image');
  }
  // Each provisioning of an existing app keeps the image azd deployed last.
  const image = declaration(main, 'module', 'containerAppImage') ?? '';
  const keepsImage =
    parameter('apiExists') === '${SERVICE_API_RESOURCE_EXISTS=false}' &&
    /^\s*exists: apiExists$/m.test(image) &&
    /^\s*image: containerAppImage!\.outputs\.image$/m.test(
      declaration(main, 'module', 'containerApp') ?? '',
    ) &&
    /^\s*image: empty\(image\) \? placeholderImage : image$/m.test(
      template.files.get(containerApp.module) ?? '',
    );
  if (!keepsImage) {
    problems.push(
      'a re-provision must keep the deployed image: SERVICE_API_RESOURCE_EXISTS -> apiExists -> containerAppImage -> the app image',
    );
  }
  return problems;
}

/** The parts of infra/container/Dockerfile the option relies on; see checkContainerImage. */
export const containerImage = {
  dockerfile: 'infra/container/Dockerfile',
  /** The Functions host's script root (AzureWebJobsScriptRoot) in the Functions base images. */
  scriptRoot: '/home/site/wwwroot',
} as const;

/**
 * The container option's image: built from the Azure Functions Node image at the Flex Consumption app's Node
 * version, with Debian's python3 and a virtual environment, the tasks' requirements.txt installed into it
 * when present, PARALLEL_JOB_PYTHON pointing at its interpreter (the same path as containerapp.bicep), and
 * the app in the script root: package.json, host.json, dist/ from a build, production node_modules, src/
 * with the Python runtime (src/task/python), and tasks/.
 */
export function checkContainerImage(template: TemplateFiles): string[] {
  const problems: string[] = [];
  const file = containerImage.dockerfile;
  const text = template.files.get(file);
  if (text === undefined) return [`${file} is missing`];
  const stages = dockerStages(text);
  const final = stages.at(-1);
  if (!final) return [`${file} has no FROM`];
  const chain = stageChain(stages, final);
  const shipped = chain.flatMap((stage) => stage.instructions);
  const runs = (instructions: readonly DockerInstruction[]): string[] =>
    instructions
      .filter((instruction) => instruction.keyword === 'RUN')
      .map((instruction) => instruction.args);

  // The base image, and Node at the Flex Consumption runtime's version.
  const base = chain.at(-1)?.from ?? '';
  const node = /^mcr\.microsoft\.com\/azure-functions\/node:4-node(\d+)(?:$|-)/.exec(base)?.[1];
  const flexSite = declaration(template.files.get(flexConsumption.module) ?? '', 'resource', 'functionApp');
  const flexNode = /^\s*version: '(\d+)'$/m.exec(flexSite ?? '')?.[1];
  if (node === undefined) {
    problems.push(
      `${file} must build the shipped image from mcr.microsoft.com/azure-functions/node:4-node<N>, not ${base}`,
    );
  } else if (node !== flexNode) {
    problems.push(
      `${file} builds on Node ${node}, but the Flex Consumption app runs Node ${flexNode ?? '?'}`,
    );
  }

  // python3 and a virtual environment, in the shipped image.
  const installsPython = runs(shipped).some(
    (run) =>
      /apt-get install\b/.test(run) &&
      /(^|\s)python3(\s|$)/.test(run) &&
      /(^|\s)python3-venv(\s|$)/.test(run),
  );
  if (!installsPython)
    problems.push(`${file} must apt-get install python3 and python3-venv in the shipped image`);
  const venv = runs(shipped)
    .map((run) => /python3 -m venv (\/\S+)/.exec(run)?.[1])
    .find((dir) => dir !== undefined);
  if (venv === undefined) problems.push(`${file} must create a virtual environment (python3 -m venv <dir>)`);
  const interpreter = `${venv ?? '<venv>'}/bin/python`;
  const env = envValues(shipped);
  if (env.get('PARALLEL_JOB_PYTHON') !== interpreter) {
    problems.push(
      `${file} must set ENV PARALLEL_JOB_PYTHON=${interpreter} (it sets ${env.get('PARALLEL_JOB_PYTHON') ?? 'nothing'})`,
    );
  }
  const containerModule = template.files.get(containerApp.module) ?? '';
  const settingValue = literalValue(
    readAppSettings(template, containerApp).settings.get('PARALLEL_JOB_PYTHON'),
    containerModule,
  );
  if (settingValue !== env.get('PARALLEL_JOB_PYTHON')) {
    problems.push(
      `PARALLEL_JOB_PYTHON differs: ${containerApp.module} sets ${settingValue ?? 'nothing'}, ${file} sets ${env.get('PARALLEL_JOB_PYTHON') ?? 'nothing'}`,
    );
  }

  // tasks/requirements.txt, when present, installed with the venv's pip; its absence is no error.
  const install = runs(shipped)
    .map((run) => ({
      run,
      requirements: new RegExp(
        `${escapeRegExp(venv ?? '<venv>')}/bin/(?:python -m pip|pip) install\\b[^;&]*-r ([^\\s;]+)`,
      ).exec(run)?.[1],
    }))
    .find((candidate) => candidate.requirements !== undefined);
  const requirements = install?.requirements;
  if (!install || !requirements) {
    problems.push(`${file} must install the tasks' requirements.txt with ${venv ?? '<venv>'}'s pip`);
  } else {
    if (!new RegExp(`if \\[ -f ${escapeRegExp(requirements)} \\]; then`).test(install.run)) {
      problems.push(
        `${file} must install ${requirements} only when it exists (tasks/requirements.txt is optional)`,
      );
    }
    const folder = requirements.replace(/\/[^/]+$/, '');
    const source = copies(final).find((copy) => copyTarget(copy) === folder && copy.from !== undefined);
    const sourceStage = stages.find((stage) => stage.name === source?.from);
    const picksTasksFile = runs(sourceStage?.instructions ?? []).some((run) =>
      /if \[ -f \S*tasks\/requirements\.txt \]; then cp \S*tasks\/requirements\.txt /.test(run),
    );
    if (!picksTasksFile) {
      problems.push(
        `${file}: ${requirements} must be tasks/requirements.txt of the build context, copied only when it exists`,
      );
    }
  }

  // The app in the script root.
  const finalCopies = copies(final);
  const copied = (target: string): CopyInstruction | undefined =>
    finalCopies.find(
      (copy) =>
        copyTarget(copy) === `${containerImage.scriptRoot}/${target}` ||
        (copyTarget(copy) === containerImage.scriptRoot && copy.sources.some((source) => source === target)),
    );
  for (const target of ['package.json', 'host.json', 'tasks']) {
    if (!copied(target)) problems.push(`${file} must copy ${target} into ${containerImage.scriptRoot}`);
  }
  const stageOf = (copy: CopyInstruction | undefined): DockerStage | undefined =>
    stages.find((stage) => stage.name !== undefined && stage.name === copy?.from);
  const dist = stageOf(copied('dist'));
  if (!dist || !runs(dist.instructions).some((run) => /npm run build\b/.test(run))) {
    problems.push(`${file} must copy dist from a stage that runs npm run build`);
  }
  const modules = stageOf(copied('node_modules'));
  if (!modules || !runs(modules.instructions).some((run) => /npm ci\b.*--omit=dev\b/.test(run))) {
    problems.push(`${file} must copy node_modules from a stage that runs npm ci --omit=dev`);
  }
  // The Python runtime ships as .py files under src/task/python, found from the package root at run time.
  const src = copied('src') ?? copied('src/task/python');
  const srcStage = stageOf(src);
  const keepsPython =
    src !== undefined &&
    (srcStage === undefined ? src.sources.some((source) => /^\.?\/?src\/?$/.test(source)) : true) &&
    !runs(srcStage?.instructions ?? []).some((run) => /\*\.py\b|-name ['"]?[^'"\s]*\.py/.test(run));
  if (!keepsPython)
    problems.push(`${file} must copy src/ with src/task/python/**/*.py into ${containerImage.scriptRoot}`);
  if ((env.get('AzureWebJobsScriptRoot') ?? containerImage.scriptRoot) !== containerImage.scriptRoot) {
    problems.push(`${file} must keep AzureWebJobsScriptRoot at ${containerImage.scriptRoot}`);
  }
  return problems;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One azd project: an azure.yaml and the hosting plan its one service deploys to. */
export interface AzdProject {
  file: string;
  plan: HostingOption['plan'];
  host: 'function' | 'containerapp';
}

/**
 * azd cannot switch a service's host by an environment value, so each hosting plan has its azure.yaml: the
 * repository root's (Flex Consumption, the default) and infra/container's (the container option).
 */
export const azdProjects: readonly AzdProject[] = [
  { file: 'azure.yaml', plan: 'flexconsumption', host: 'function' },
  { file: 'infra/container/azure.yaml', plan: 'containerapp', host: 'containerapp' },
];

/** A value inside parsed YAML, or undefined. */
function field(value: unknown, ...keys: string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** A path written in a file of `folder`, as a path from the repository root ('' for the root itself). */
function fromRoot(folder: string, relative: string): string {
  return path.posix.normalize(path.posix.join(folder, relative)).replace(/^\.$|\/$/g, '');
}

/** The script a hook runs and its arguments: `./x.sh`, or an inline `sh ./x.sh arg`. */
function hookCommand(run: unknown, folder: string): { script: string; args: string[] } | undefined {
  if (typeof run !== 'string') return undefined;
  const words = run.trim().split(/\s+/);
  const [first = '', ...rest] = words[0] === 'sh' ? words.slice(1) : words;
  return { script: fromRoot(folder, first), args: rest };
}

/**
 * Each azd project deploys its one service, `api`, to the kind of app its plan creates (the resource tagged
 * azd-service-name: api), provisions the same infra/main.bicep, refuses an azd environment whose
 * PARALLEL_JOB_HOSTING_PLAN names the other plan (before provisioning and before deploying), and runs the
 * postdeploy hook. The container option's project builds infra/container/Dockerfile with the repository root
 * as context; its service folder is its own folder, so azd versions that resolve docker paths from the
 * service folder and those that resolve them from the project folder agree.
 */
export function checkAzdProjects(template: TemplateFiles): string[] {
  const problems: string[] = [];
  for (const project of azdProjects) {
    const text = template.files.get(project.file);
    if (text === undefined) {
      problems.push(`${project.file} is missing`);
      continue;
    }
    const folder = path.posix.dirname(project.file).replace(/^\.$/, '');
    const yaml: unknown = parseYaml(text);
    const service = field(yaml, 'services', 'api');
    const option = hostingOptions.find((candidate) => candidate.plan === project.plan);
    if (field(service, 'host') !== project.host) {
      problems.push(`${project.file}: service api must have host: ${project.host}`);
    }
    if (
      option &&
      !/'azd-service-name': 'api'/.test(
        declaration(template.files.get(option.module) ?? '', 'resource', option.appResource) ?? '',
      )
    ) {
      problems.push(
        `${option.module}: the app must carry the tag azd-service-name: 'api' for ${project.file}`,
      );
    }
    const infraPath = field(yaml, 'infra', 'path');
    if (
      typeof infraPath !== 'string' ||
      fromRoot(folder, infraPath) !== 'infra' ||
      field(yaml, 'infra', 'module') !== 'main'
    ) {
      problems.push(`${project.file} must provision infra/main.bicep (infra.path, infra.module)`);
    }
    for (const hook of ['preprovision', 'predeploy']) {
      const command = hookCommand(field(yaml, 'hooks', hook, 'posix', 'run'), folder);
      if (command?.script !== 'infra/hooks/hosting-plan.sh' || command.args.join(' ') !== project.plan) {
        problems.push(
          `${project.file}: the ${hook} hook must run infra/hooks/hosting-plan.sh ${project.plan}`,
        );
      }
    }
    if (
      hookCommand(field(yaml, 'hooks', 'postdeploy', 'posix', 'run'), folder)?.script !==
      'infra/hooks/postdeploy.sh'
    ) {
      problems.push(`${project.file} has no postdeploy hook that subscribes the blob trigger to Event Grid`);
    }
    if (project.host !== 'containerapp') continue;
    const serviceFolder = field(service, 'project');
    const dockerPath = field(service, 'docker', 'path');
    const context = field(service, 'docker', 'context');
    if (typeof serviceFolder !== 'string' || fromRoot(folder, serviceFolder) !== folder) {
      problems.push(
        `${project.file}: service api's project must be the file's own folder, so docker paths resolve one way`,
      );
    }
    if (typeof dockerPath !== 'string' || fromRoot(folder, dockerPath) !== containerImage.dockerfile) {
      problems.push(`${project.file}: docker.path must be ${containerImage.dockerfile}`);
    }
    if (typeof context !== 'string' || fromRoot(folder, context) !== '') {
      problems.push(`${project.file}: docker.context must be the repository root`);
    }
    if (field(service, 'language') !== 'docker') {
      problems.push(
        `${project.file}: service api must have language: docker (the Dockerfile builds the app)`,
      );
    }
    const apiVersion = /^resource app 'Microsoft\.App\/containerApps@([^']+)'/m.exec(
      template.files.get(containerApp.module) ?? '',
    )?.[1];
    if (field(service, 'apiVersion') !== apiVersion) {
      problems.push(
        `${project.file}: service api must deploy with apiVersion ${apiVersion ?? '?'}, the container app's`,
      );
    }
  }
  return problems;
}
