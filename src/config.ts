import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors';

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
  PARALLEL_JOB_TASK_HUB: z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,49}$/).default('ParallelJob'),
  /** Folder that holds deployed task modules; a spec's `task.code` resolves inside it. */
  PARALLEL_JOB_TASKS_ROOT: z.string().optional(),
  PARALLEL_JOB_JOBS_CONTAINER: z.string().default('jobs'),
  PARALLEL_JOB_INPUTS_CONTAINER: z.string().default('inputs'),
  PARALLEL_JOB_OUTPUTS_CONTAINER: z.string().default('outputs'),
  PARALLEL_JOB_LOGS_CONTAINER: z.string().default('logs'),
  PARALLEL_JOB_SCHEDULES_CONTAINER: z.string().default('schedules'),
});

export type Settings = z.infer<typeof settingsSchema>;

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

/** The deployed task modules' root; defaults to `tasks/` in the app folder. */
export function tasksRoot(settings: Settings, appRoot = process.cwd()): string {
  return path.resolve(appRoot, settings.PARALLEL_JOB_TASKS_ROOT ?? 'tasks');
}
