import path from 'node:path';
import { createJobReads, type JobReads } from './api/status';
import { appFunctionTimeout } from './job/limits';
import { jobFilesCache, type JobFiles, type RunMiniBatchDeps } from './activities/runMiniBatch';
import { loadSettings, settingsFingerprint, tasksRoot, workDir, type Settings } from './config';
import { ConfigError } from './errors';
import { AccessPolicy, PlaceSettingError } from './storage/access';
import { BlobStore } from './storage/blobStore';
import { SideInputCache } from './storage/sideInputs';
import { TaskPools, type WorkerStorageAccess } from './task/pool';
import { PythonProbe } from './task/python/interpreter';
import { removeStalePoolFolders } from './task/workerFolders';
import { ScheduleBlobs } from './triggers/schedules/tick';

/**
 * The one place where clients, pools and caches are built: `createAppServices(settings)` makes an app's
 * worth of them (a connection string locally, managed identity in Azure), and everything else receives
 * what it uses. No module keeps state of its own that depends on settings, so two apps in one process
 * share nothing. (One exception, on purpose: without PARALLEL_JOB_LINK_SECRET, download links are signed
 * with a key drawn once per process, so that links outlive rebuilt services: src/api/links.ts.)
 */
export interface AppServices {
  settings: Settings;
  store: BlobStore;
  containers: { jobs: string; inputs: string; outputs: string; logs: string; schedules: string };
  tasksRoot: string;
  /** Where jobs may read and write. */
  access: AccessPolicy;
  /** host.json's functionTimeout, which bounds retry_settings.timeout. */
  functionTimeout: string | undefined;
  /** Where task workers keep their folders, Python attempts their data, and the side-input cache its copies. */
  workDir: string;
  /** The app's warm task pools: one per task and job configuration. */
  pools: TaskPools;
  /** Side inputs on this host's disk, by version. */
  sideInputCache: SideInputCache;
  /** Job records, plan pages and manifests the activities read, by job. */
  jobFiles: JobFiles;
  /** Schedules parsed from their blobs, while a blob is unchanged. */
  scheduleBlobs: ScheduleBlobs;
  /** Whether the Python interpreter answers (asked at submission of a .py entry script). */
  python: PythonProbe;
  /** The read model's progress readers and kept reports (job views, pages). */
  reads: JobReads;
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

/** How task workers reach input blobs for file handles: the app's connection string, or its identity. */
function workerStorageAccess(settings: Settings): WorkerStorageAccess {
  const connection = settings.AzureWebJobsStorage;
  return {
    ...(connection && /AccountName=|UseDevelopmentStorage=/i.test(connection)
      ? { connectionString: connection }
      : {}),
    ...(settings.AzureWebJobsStorage__clientId
      ? { managedIdentityClientId: settings.AzureWebJobsStorage__clientId }
      : {}),
  };
}

let apps = 0;

/** An app's clients, pools and caches, from its settings. */
export function createAppServices(settings: Settings, appRoot = process.cwd()): AppServices {
  const store = BlobStore.fromSettings(settings);
  const work = workDir(settings);
  removeStalePoolFolders(work);
  apps += 1;
  return {
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
    tasksRoot: tasksRoot(settings, appRoot),
    functionTimeout: appFunctionTimeout(),
    workDir: work,
    pools: new TaskPools({
      storage: workerStorageAccess(settings),
      python: settings.PARALLEL_JOB_PYTHON,
      // Each app of the process (and each process) has its own pools' folder.
      workDir: path.join(work, `pools-${process.pid}${apps > 1 ? `-${apps}` : ''}`),
    }),
    sideInputCache: new SideInputCache(path.join(work, 'side-inputs')),
    jobFiles: jobFilesCache(),
    scheduleBlobs: new ScheduleBlobs(),
    python: new PythonProbe(),
    reads: createJobReads(store, settings.PARALLEL_JOB_LOGS_CONTAINER),
  };
}

/** What the activities use of an app's services. */
export function activityDeps(services: AppServices): RunMiniBatchDeps {
  return {
    store: services.store,
    logsContainer: services.containers.logs,
    access: services.access,
    pools: services.pools,
    sideInputCache: services.sideInputCache,
    workDir: services.workDir,
    jobFiles: services.jobFiles,
    maxRecordBytes: services.settings.PARALLEL_JOB_MAX_RECORD_BYTES,
    maxOutputBytesPerAttempt: services.settings.PARALLEL_JOB_MAX_OUTPUT_BYTES_PER_ATTEMPT,
    functionTimeout: services.functionTimeout,
  };
}

let current: { key: string; services: AppServices } | undefined;

/**
 * The services of the app this process serves, built from the process's settings. Rebuilt when the
 * settings change, so one process can serve several hosts in turn (tests, `run` after `host`); the
 * previous app's warm workers are then drained. In Azure the settings are fixed and this is built once.
 */
export function appServices(): AppServices {
  const key = settingsFingerprint();
  if (!current || current.key !== key) {
    const previous = current?.services;
    current = { key, services: createAppServices(loadSettings()) };
    void previous?.pools.closeAll();
  }
  return current.services;
}
