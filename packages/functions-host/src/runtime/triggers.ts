import fs from 'node:fs';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { CronExpressionParser } from 'cron-parser';
import type { LoadedApp } from './appLoader';
import { resolveSettingRefs } from './appLoader';
import { tryJsonParse } from '../durable/history';
import { triggerBinding } from './invoker';
import { timeSpanToMs, type HostJson, type LogLine, type Registration } from './types';

export interface TriggerContext {
  app: LoadedApp;
  hostJson: HostJson;
  dataDir: string;
  /** The host's storage account (Azurite or real). */
  connectionString: string;
  log: LogLine;
  quiet: boolean;
  pollIntervalMs: number;
  invoke(
    registration: Registration,
    trigger: unknown,
    triggerMetadata: Record<string, unknown> | undefined,
    reason: string,
  ): Promise<unknown>;
}

export interface RunningTriggers {
  stop(): Promise<void>;
}

function connectionFor(setting: unknown, fallback: string): string {
  const name = typeof setting === 'string' && setting ? setting : 'AzureWebJobsStorage';
  const value = process.env[name];
  if (!value || value.includes('UseDevelopmentStorage=true')) return fallback;
  return value;
}

/** Blob receipts survive restarts, so a blob version (etag) fires once, as with the real host's receipts. */
class ReceiptStore {
  private readonly receipts: Record<string, string>;
  constructor(private readonly file: string) {
    this.receipts = fs.existsSync(file)
      ? ((tryJsonParse(fs.readFileSync(file, 'utf8')) as Record<string, string>) ?? {})
      : {};
  }
  get(key: string): string | undefined {
    return this.receipts[key];
  }
  set(key: string, etag: string): void {
    this.receipts[key] = etag;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.writeFileSync(`${this.file}.tmp`, JSON.stringify(this.receipts));
    fs.renameSync(`${this.file}.tmp`, this.file);
  }
}

/** `container/prefix-{name}.csv` -> container, listing prefix, and a matcher that extracts tokens. */
export function compileBlobPath(pattern: string): {
  container: string;
  prefix: string;
  match(name: string): Record<string, string> | undefined;
} {
  const slash = pattern.indexOf('/');
  const container = slash < 0 ? pattern : pattern.slice(0, slash);
  const blobPattern = slash < 0 ? '{name}' : pattern.slice(slash + 1) || '{name}';
  const brace = blobPattern.indexOf('{');
  const prefix = brace < 0 ? blobPattern : blobPattern.slice(0, brace);
  const names: string[] = [];
  const source = blobPattern
    .split(/(\{[^}]+\})/)
    .filter(Boolean)
    .map((part, index, parts) => {
      const token = /^\{(\w+)\}$/.exec(part);
      if (!token) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(token[1] as string);
      return index === parts.length - 1 ? '(.+)' : '(.+?)';
    })
    .join('');
  const regex = new RegExp(`^${source}$`);
  return {
    container,
    prefix,
    match(name) {
      const found = regex.exec(name);
      if (!found) return undefined;
      return Object.fromEntries(names.map((token, index) => [token, found[index + 1] as string]));
    },
  };
}

/** Stop callbacks of the running pollers and timers, and the flag they check. */
class TriggerLoops {
  stopped = false;
  readonly stops: (() => void | Promise<void>)[] = [];

  constructor(private readonly context: TriggerContext) {}

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.stops.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Runs `once` until stopped, sleeping a poll interval after each round that found nothing to do. */
  loop(name: string, once: () => Promise<boolean>): void {
    const context = this.context;
    const running = (async () => {
      while (!this.stopped) {
        let busy = false;
        try {
          busy = await once();
        } catch (error) {
          if (!context.quiet && !this.stopped)
            context.log(`${name}: polling failed: ${(error as Error).message}`);
        }
        if (!busy && !this.stopped) await this.sleep(context.pollIntervalMs);
      }
    })();
    this.stops.push(() => running);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const pending: Promise<void>[] = [];
    for (const stop of this.stops.splice(0)) {
      const outcome = stop();
      if (outcome) pending.push(outcome);
    }
    await Promise.all(pending);
  }
}

type TriggerBinding = ReturnType<typeof triggerBinding>;

/** host.json's extensions.queues, with the host's defaults. */
interface QueueSettings {
  maxDequeueCount: number;
  batchSize: number;
  retryVisibilitySeconds: number;
  base64: boolean;
}

function queueSettings(hostJson: HostJson): QueueSettings {
  const queues = hostJson.extensions?.queues ?? {};
  return {
    maxDequeueCount: queues.maxDequeueCount ?? 5,
    batchSize: queues.batchSize ?? 16,
    retryVisibilitySeconds: Math.round(timeSpanToMs(queues.visibilityTimeout ?? '00:00:00') / 1000),
    base64: (queues.messageEncoding ?? 'base64') === 'base64',
  };
}

export function startTriggers(context: TriggerContext): RunningTriggers {
  const loops = new TriggerLoops(context);
  const receipts = new ReceiptStore(path.join(context.dataDir, 'blob-receipts.json'));
  const queues = queueSettings(context.hostJson);
  for (const registration of context.app.registrations.values()) {
    const trigger = triggerBinding(registration);
    if (trigger.type === 'blobTrigger') watchBlobs(context, loops, registration, trigger, receipts);
    else if (trigger.type === 'queueTrigger') watchQueue(context, loops, registration, trigger, queues);
    else if (trigger.type === 'timerTrigger') scheduleTimer(context, loops, registration, trigger);
  }
  return { stop: () => loops.stop() };
}

/** Polls the container for new blob versions under the trigger's path; each version fires once. */
function watchBlobs(
  context: TriggerContext,
  loops: TriggerLoops,
  registration: Registration,
  trigger: TriggerBinding,
  receipts: ReceiptStore,
): void {
  const name = registration.metadata.name;
  const blobPath = compileBlobPath(resolveSettingRefs(String(trigger.path)));
  const service = BlobServiceClient.fromConnectionString(
    connectionFor(trigger.connection, context.connectionString),
  );
  const container = service.getContainerClient(blobPath.container);
  let created = false;
  loops.loop(name, async () => {
    if (!created) {
      await container.createIfNotExists();
      created = true;
    }
    for await (const blob of container.listBlobsFlat({
      prefix: blobPath.prefix,
      includeMetadata: true,
    })) {
      if (loops.stopped) return false;
      const tokens = blobPath.match(blob.name);
      const etag = blob.properties.etag;
      if (!tokens || !etag) continue;
      const key = `${name}|${blobPath.container}/${blob.name}`;
      if (receipts.get(key) === etag) continue;
      const client = container.getBlobClient(blob.name);
      const content = await client.downloadToBuffer();
      try {
        await context.invoke(
          registration,
          content,
          {
            blobTrigger: `${blobPath.container}/${blob.name}`,
            uri: client.url,
            properties: blob.properties,
            metadata: blob.metadata ?? {},
            ...tokens,
          },
          `New blob detected(${trigger.source === 'EventGrid' ? 'EventGrid' : 'LogsAndContainerScan'}): ${blobPath.container}/${blob.name}`,
        );
      } catch {
        // The invoker already logged it; like the real host's receipt after the last retry, one version fires once.
      }
      receipts.set(key, etag);
    }
    return false;
  });
}

/** Polls the queue; a message that fails maxDequeueCount times moves to `<queue>-poison`. */
function watchQueue(
  context: TriggerContext,
  loops: TriggerLoops,
  registration: Registration,
  trigger: TriggerBinding,
  settings: QueueSettings,
): void {
  const { maxDequeueCount, batchSize, retryVisibilitySeconds, base64 } = settings;
  const queueName = resolveSettingRefs(String(trigger.queueName));
  const service = QueueServiceClient.fromConnectionString(
    connectionFor(trigger.connection, context.connectionString),
  );
  const queue = service.getQueueClient(queueName);
  const poison = service.getQueueClient(`${queueName}-poison`);
  let created = false;
  loops.loop(registration.metadata.name, async () => {
    if (!created) {
      await queue.createIfNotExists();
      created = true;
    }
    const received = await queue.receiveMessages({ numberOfMessages: batchSize, visibilityTimeout: 300 });
    for (const message of received.receivedMessageItems) {
      if (loops.stopped) break;
      const text = base64 ? Buffer.from(message.messageText, 'base64').toString('utf8') : message.messageText;
      try {
        await context.invoke(
          registration,
          tryJsonParse(text),
          {
            id: message.messageId,
            dequeueCount: message.dequeueCount,
            expirationTime: message.expiresOn.toISOString(),
            insertionTime: message.insertedOn.toISOString(),
            nextVisibleTime: message.nextVisibleOn.toISOString(),
            popReceipt: message.popReceipt,
            queueTrigger: text,
          },
          `New queue message detected on '${queueName}'.`,
        );
        await queue.deleteMessage(message.messageId, message.popReceipt);
      } catch {
        if (message.dequeueCount >= maxDequeueCount) {
          await poison.createIfNotExists();
          await poison.sendMessage(message.messageText);
          await queue.deleteMessage(message.messageId, message.popReceipt);
          if (!context.quiet)
            context.log(
              `Message ${message.messageId} moved to queue '${queueName}-poison' after ${message.dequeueCount} attempts.`,
            );
        } else {
          await queue.updateMessage(message.messageId, message.popReceipt, undefined, retryVisibilitySeconds);
        }
      }
    }
    return received.receivedMessageItems.length > 0;
  });
}

/** Fires on the trigger's schedule (a cron expression or a TimeSpan interval), in UTC. */
function scheduleTimer(
  context: TriggerContext,
  loops: TriggerLoops,
  registration: Registration,
  trigger: TriggerBinding,
): void {
  const schedule = resolveSettingRefs(String(trigger.schedule));
  const interval = /^\d/.test(schedule) && schedule.includes(':') ? timeSpanToMs(schedule) : undefined;
  const next = (from: Date): Date =>
    interval
      ? new Date(from.getTime() + interval)
      : CronExpressionParser.parse(schedule, { currentDate: from, tz: 'UTC' }).next().toDate();
  next(new Date()); // validate the schedule now, not at the first tick
  let last: Date | undefined;
  const fire = async (due: Date): Promise<void> => {
    const now = new Date();
    const upcoming = next(now);
    try {
      await context.invoke(
        registration,
        {
          isPastDue: now.getTime() - due.getTime() > 1000,
          schedule: { adjustForDST: true },
          scheduleStatus: {
            last: (last ?? now).toISOString(),
            next: upcoming.toISOString(),
            lastUpdated: now.toISOString(),
          },
        },
        undefined,
        `Timer fired at ${now.toISOString()}`,
      );
    } catch {
      // logged by the invoker; a timer keeps its schedule
    }
    last = now;
  };
  let handle: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (loops.stopped) return;
    const due = next(new Date());
    handle = setTimeout(
      () => void fire(due).then(arm),
      Math.min(Math.max(0, due.getTime() - Date.now()), 2 ** 31 - 1),
    );
  };
  if (trigger.runOnStartup === true) void fire(new Date()).then(arm);
  else arm();
  loops.stops.push(() => clearTimeout(handle));
}
