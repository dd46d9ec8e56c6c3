import { loadSettings, settingsFingerprint, tasksRoot, type Settings } from './config';
import { ConfigError } from './errors';
import { AccessPolicy, PlaceSettingError } from './storage/access';
import { BlobStore } from './storage/blobStore';

/**
 * The one place where clients are built: once per process, from the app settings (a connection string
 * locally, managed identity in Azure). Everything else receives these objects.
 */
export interface AppServices {
  settings: Settings;
  store: BlobStore;
  containers: { jobs: string; inputs: string; outputs: string; logs: string; schedules: string };
  tasksRoot: string;
  /** Where jobs may read and write. */
  access: AccessPolicy;
}

const places = (setting: string | undefined): string[] | undefined =>
  setting === undefined ? undefined : setting.split(/[,\s]+/).filter(Boolean);

/**
 * The places jobs may use on `accountUrl` under these settings. The app's own containers (logs, jobs,
 * schedules, the deployment package, the Functions host's and the task hub's) are never among them.
 */
export function accessPolicyFor(settings: Settings, accountUrl: string): AccessPolicy {
  const hub = settings.PARALLEL_JOB_TASK_HUB.toLowerCase();
  try {
    return new AccessPolicy({
      appAccountUrl: accountUrl,
      readable: places(settings.PARALLEL_JOB_READ_PLACES) ?? [
        settings.PARALLEL_JOB_INPUTS_CONTAINER,
        settings.PARALLEL_JOB_OUTPUTS_CONTAINER,
      ],
      writable: places(settings.PARALLEL_JOB_WRITE_PLACES) ?? [settings.PARALLEL_JOB_OUTPUTS_CONTAINER],
      reserved: {
        [settings.PARALLEL_JOB_LOGS_CONTAINER]: 'the job logs container, which only the app writes',
        [settings.PARALLEL_JOB_JOBS_CONTAINER]: 'the container where an uploaded spec starts a job',
        [settings.PARALLEL_JOB_SCHEDULES_CONTAINER]: 'the schedules container',
        [settings.PARALLEL_JOB_DEPLOYMENT_CONTAINER]: "the app's deployment package container",
      },
      reservedPrefixes: {
        'azure-webjobs-': 'a container of the Functions host (keys, secrets, leases)',
        [`${hub}-`]: `a container of the Durable Functions task hub '${settings.PARALLEL_JOB_TASK_HUB}'`,
      },
    });
  } catch (error) {
    if (!(error instanceof PlaceSettingError)) throw error;
    const setting = settings.PARALLEL_JOB_WRITE_PLACES?.includes(error.entry)
      ? 'PARALLEL_JOB_WRITE_PLACES'
      : 'PARALLEL_JOB_READ_PLACES';
    throw new ConfigError([{ path: setting, message: error.message }]);
  }
}

let services: AppServices | undefined;
let servicesKey: string | undefined;

/**
 * Rebuilt when the settings change, so one process can serve several hosts in turn (tests, `run`
 * after `host`); in Azure the settings are fixed and this is built once.
 */
export function appServices(): AppServices {
  const key = settingsFingerprint();
  if (!services || key !== servicesKey) {
    const settings = loadSettings();
    servicesKey = key;
    const store = BlobStore.fromSettings(settings);
    services = {
      settings,
      store,
      access: accessPolicyFor(settings, store.accountUrl),
      containers: {
        jobs: settings.PARALLEL_JOB_JOBS_CONTAINER,
        inputs: settings.PARALLEL_JOB_INPUTS_CONTAINER,
        outputs: settings.PARALLEL_JOB_OUTPUTS_CONTAINER,
        logs: settings.PARALLEL_JOB_LOGS_CONTAINER,
        schedules: settings.PARALLEL_JOB_SCHEDULES_CONTAINER,
      },
      tasksRoot: tasksRoot(settings),
    };
  }
  return services;
}
