import { z } from 'zod';

/** One binding as `@azure/functions` hands it to `registerFunction` (keyed by binding name). */
export interface BindingMetadata {
  type: string;
  direction: 'in' | 'out' | 'inout';
  name?: string;
  [option: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, BindingMetadata>;
  retryOptions?: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;

export interface Registration {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';
export type HookCallback = (context: Record<string, unknown>) => unknown;

/** What the host tells callers about each function it serves. */
export interface FunctionInfo {
  name: string;
  /** Trigger binding type, e.g. `httpTrigger`, `orchestrationTrigger`, `queueTrigger`. */
  trigger: string;
  /** For HTTP triggers: the full URL template, e.g. `http://127.0.0.1:7071/api/orders/{id}`. */
  url?: string;
  methods?: string[];
  authLevel?: string;
  /** Trigger details worth printing: route, queue name, blob path or schedule. */
  detail?: string;
}

export const packageJsonSchema = z.object({
  main: z.string().min(1).optional(),
});

const timeSpan = z.string().regex(/^(\d+\.)?\d{1,2}:\d{2}:\d{2}(\.\d+)?$/);

export const hostJsonSchema = z
  .object({
    version: z.string().optional(),
    functionTimeout: timeSpan.optional(),
    extensions: z
      .object({
        http: z.object({ routePrefix: z.string().optional() }).loose().optional(),
        queues: z
          .object({
            maxDequeueCount: z.number().int().positive().optional(),
            batchSize: z.number().int().positive().optional(),
            visibilityTimeout: timeSpan.optional(),
            maxPollingInterval: z.union([timeSpan, z.number()]).optional(),
            messageEncoding: z.enum(['base64', 'none']).optional(),
          })
          .loose()
          .optional(),
        durableTask: z
          .object({
            hubName: z.string().optional(),
            maxConcurrentActivityFunctions: z.number().int().positive().optional(),
            maxConcurrentOrchestratorFunctions: z.number().int().positive().optional(),
          })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
export type HostJson = z.infer<typeof hostJsonSchema>;

export const localSettingsSchema = z
  .object({
    IsEncrypted: z.boolean().optional(),
    Values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    Host: z.object({ LocalHttpPort: z.number().int().optional() }).loose().optional(),
  })
  .loose();

/** Parses a .NET TimeSpan (`[d.]hh:mm:ss[.fff]`) to milliseconds. */
export function timeSpanToMs(value: string): number {
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value);
  if (!match) return 0;
  const [, days, hours, minutes, seconds, fraction] = match;
  const ms = fraction ? Number(`0.${fraction}`) * 1000 : 0;
  return (
    ((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 + Number(seconds) * 1000 + ms
  );
}

export type LogLine = (line: string) => void;
