import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors';

/** PARALLEL_JOB_MAX_RECORD_BYTES's rule, as a user reads it when a value breaks it. */
const RECORD_BYTES_RULE = 'must be a whole number of bytes from 1024 to 1073741824';

/**
 * Every app setting the code reads, in one schema. `infra/` must set each of these (a test checks it),
 * so a setting read anywhere else is a defect. Connections follow the Functions convention: either a
 * connection string under the name, or identity-based sub-settings `<name>__serviceUri` etc.
 */
export const settingsSchema = z.object({
  /** Storage for the app, Durable Functions and the job data. Connection string or identity-based. */
  AzureWebJobsStorage: z.string().min(1).optional(),
  AzureWebJobsStorage__blobServiceUri: z.url().optional(),
  AzureWebJobsStorage__queueServiceUri: z.url().optional(),
  AzureWebJobsStorage__tableServiceUri: z.url().optional(),
  AzureWebJobsStorage__credential: z.literal('managedidentity').optional(),
  AzureWebJobsStorage__clientId: z.string().optional(),
  /** Durable Functions task hub name (host.json reads it as %PARALLEL_JOB_TASK_HUB%). */
  PARALLEL_JOB_TASK_HUB: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9]{2,49}$/)
    .default('ParallelJob'),
  /** Folder that holds deployed task modules; a spec's `task.code` resolves inside it. */
  PARALLEL_JOB_TASKS_ROOT: z.string().optional(),
  PARALLEL_JOB_JOBS_CONTAINER: z.string().default('jobs'),
  PARALLEL_JOB_INPUTS_CONTAINER: z.string().default('inputs'),
  PARALLEL_JOB_OUTPUTS_CONTAINER: z.string().default('outputs'),
  PARALLEL_JOB_LOGS_CONTAINER: z.string().default('logs'),
  PARALLEL_JOB_SCHEDULES_CONTAINER: z.string().default('schedules'),
  /** The container of the deployment package (Flex Consumption); jobs never touch it. */
  PARALLEL_JOB_DEPLOYMENT_CONTAINER: z.string().default('app-package'),
  /**
   * Where jobs may read and write (src/storage/access.ts), comma-separated: `<container>[/<prefix>]` on the
   * app's account or `https://<account>.blob.core.windows.net/<container>[/<prefix>]`. Unset: the inputs
   * and outputs containers (read), the outputs container (write). Writable places are also readable.
   */
  PARALLEL_JOB_READ_PLACES: z.string().optional(),
  PARALLEL_JOB_WRITE_PLACES: z.string().optional(),
  /** Schedules declared in settings, as JSON `{"<name>": {cron, time_zone?, job | job_blob}}` (src/triggers/schedules/). */
  PARALLEL_JOB_SCHEDULES: z.string().optional(),
  /** Service Bus, identity-based only (the `ServiceBusConnection` trigger and the events sender use it). */
  ServiceBusConnection__fullyQualifiedNamespace: z.string().min(1).optional(),
  ServiceBusConnection__credential: z.literal('managedidentity').optional(),
  ServiceBusConnection__clientId: z.string().optional(),
  /** Queue the Service Bus trigger reads (`%PARALLEL_JOB_SUBMIT_QUEUE%`) and topic that gets completion events. */
  PARALLEL_JOB_SUBMIT_QUEUE: z.string().min(1).default('job-submissions'),
  PARALLEL_JOB_EVENTS_TOPIC: z.string().min(1).default('job-events'),
  /**
   * The largest table record (CSV row or JSON line) read, in bytes; a longer one is a bad record of its
   * mini-batch, and is not read whole. Default 16 MiB.
   */
  PARALLEL_JOB_MAX_RECORD_BYTES: z.coerce
    .number({ error: RECORD_BYTES_RULE })
    .int({ error: RECORD_BYTES_RULE })
    .min(1024, { error: RECORD_BYTES_RULE })
    .max(1024 * 1024 * 1024, { error: RECORD_BYTES_RULE })
    .default(16 * 1024 * 1024),
  /**
   * The Python interpreter that runs `.py` entry scripts: a path, or a command on PATH. Submission checks
   * that it starts; pandas (and pyarrow) are needed only by table inputs.
   */
  PARALLEL_JOB_PYTHON: z.string().min(1).default('python3'),
  /**
   * The hosting plan the template deployed. `flexconsumption` promises no Python interpreter, so jobs
   * with a `.py` entry script are refused at submission there; `containerapp` images carry one.
   */
  PARALLEL_JOB_HOSTING_PLAN: z.enum(['flexconsumption', 'containerapp']).optional(),
  /** Set by the platform on App Service and Functions plans (`FlexConsumption` on Flex Consumption). */
  WEBSITE_SKU: z.string().optional(),
  /**
   * The folder for task workers' output and log folders, Python inputs and the side-input cache. Unset:
   * `parallel-job` in the machine's temporary folder.
   */
  PARALLEL_JOB_WORK_DIR: z.string().min(1).optional(),
  /**
   * The largest side input (a uri_folder or uri_file input other than input_data, such as a model),
   * downloaded once per host for the tasks. Default 2 GiB.
   */
  PARALLEL_JOB_MAX_SIDE_INPUT_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(2 * 1024 ** 3),
  /** The most bytes one attempt may write into its output folders; past it the attempt fails. Default 1 GiB. */
  PARALLEL_JOB_MAX_OUTPUT_BYTES_PER_ATTEMPT: z.coerce
    .number()
    .int()
    .min(1)
    .default(1024 ** 3),
  /** First retry of a failed mini-batch waits about this long; later ones double, up to a minute. */
  PARALLEL_JOB_RETRY_BASE_DELAY_MS: z.coerce.number().int().nonnegative().default(1000),
  /**
   * HMAC key of the short-lived download links the status page renders (src/api/links.ts). Unset: a
   * random key per process, fine on one machine; in Azure the template sets it, so every instance
   * accepts the links of the others.
   */
  PARALLEL_JOB_LINK_SECRET: z.string().min(32, 'use at least 32 characters').optional(),
  /** Set only when the Durable Task Scheduler backend is selected: `Endpoint=...;Authentication=ManagedIdentity;ClientID=...`. */
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: z.string().min(1).optional(),
});

export type Settings = z.infer<typeof settingsSchema>;

const settingNames = Object.keys(settingsSchema.shape);

/** The raw values of every setting the app reads: equal fingerprints give equal settings. */
export function settingsFingerprint(env: NodeJS.ProcessEnv = process.env): string {
  return settingNames.map((name) => env[name] ?? '').join('\u0000');
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
    );
  }
  const settings = parsed.data;
  if (!settings.AzureWebJobsStorage && !settings.AzureWebJobsStorage__blobServiceUri) {
    throw new ConfigError([
      {
        path: 'AzureWebJobsStorage',
        message:
          'set a storage connection string, or AzureWebJobsStorage__blobServiceUri (with __credential=managedidentity) for identity-based access',
      },
    ]);
  }
  return settings;
}

const settingDefaults = settingsSchema.parse({});

/**
 * The Azure resources and roles the code relies on: `infra/` must create and assign each of them, and
 * test/unit/infra checks it. `settingsNotSetInAzure` lists the only schema keys the template may leave
 * unset, each with the reason; every other key without a default must be set by the template.
 */
export const azureResourceContract = {
  blobContainers: [
    settingDefaults.PARALLEL_JOB_JOBS_CONTAINER,
    settingDefaults.PARALLEL_JOB_INPUTS_CONTAINER,
    settingDefaults.PARALLEL_JOB_OUTPUTS_CONTAINER,
    settingDefaults.PARALLEL_JOB_LOGS_CONTAINER,
    settingDefaults.PARALLEL_JOB_SCHEDULES_CONTAINER,
  ],
  serviceBusQueues: [settingDefaults.PARALLEL_JOB_SUBMIT_QUEUE],
  serviceBusTopics: [settingDefaults.PARALLEL_JOB_EVENTS_TOPIC],
  /** Roles the app's managed identity needs, by scope. */
  roles: {
    storageAccount: [
      'Storage Blob Data Owner',
      'Storage Queue Data Contributor',
      'Storage Table Data Contributor',
    ],
    serviceBusNamespace: ['Azure Service Bus Data Receiver', 'Azure Service Bus Data Sender'],
    applicationInsights: ['Monitoring Metrics Publisher'],
    durableTaskScheduler: ['Durable Task Data Contributor'],
  },
  settingsNotSetInAzure: {
    AzureWebJobsStorage:
      'connection string for Azurite on a laptop; Azure uses the identity-based __ settings',
    PARALLEL_JOB_TASKS_ROOT: 'falls back to tasks/ inside the deployed app package',
    DURABLE_TASK_SCHEDULER_CONNECTION_STRING:
      'set only when the template selects the Durable Task Scheduler backend',
    PARALLEL_JOB_SCHEDULES:
      'optional schedules declared in settings; schedules usually live as blobs in the schedules container',
    PARALLEL_JOB_READ_PLACES: 'unset, jobs read the inputs and outputs containers only',
    PARALLEL_JOB_WRITE_PLACES: 'unset, jobs write the outputs container only',
    WEBSITE_SKU: 'set by the platform, never by the template',
    PARALLEL_JOB_WORK_DIR: "unset, the workers' folders are in the instance's temporary folder",
  },
} as const satisfies {
  settingsNotSetInAzure: Partial<Record<keyof Settings, string>>;
} & Record<string, unknown>;

/**
 * Settings that shape trigger declarations, read when functions/ registers them (the defaults when unset),
 * so a blob trigger path needs no `%setting%` that a local run might not define.
 */
export function triggerSettings(env: NodeJS.ProcessEnv = process.env): { jobsContainer: string } {
  const parsed = settingsSchema.pick({ PARALLEL_JOB_JOBS_CONTAINER: true }).parse(env);
  return { jobsContainer: parsed.PARALLEL_JOB_JOBS_CONTAINER };
}

/** The deployed task modules' root; defaults to `tasks/` in the app folder. */
export function tasksRoot(settings: Settings, appRoot = process.cwd()): string {
  return path.resolve(appRoot, settings.PARALLEL_JOB_TASKS_ROOT ?? 'tasks');
}

/** PARALLEL_JOB_WORK_DIR, or `parallel-job` in the machine's temporary folder. */
export function workDir(settings: Pick<Settings, 'PARALLEL_JOB_WORK_DIR'>): string {
  return path.resolve(settings.PARALLEL_JOB_WORK_DIR ?? path.join(os.tmpdir(), 'parallel-job'));
}
