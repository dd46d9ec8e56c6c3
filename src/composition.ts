import { loadSettings, settingsFingerprint, tasksRoot, type Settings } from './config';
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
    services = {
      settings,
      store: BlobStore.fromSettings(settings),
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
