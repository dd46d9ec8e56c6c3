import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import type * as Functions from '@azure/functions';
import type { LoadedApp } from './appLoader';
import type { BindingMetadata, LogLine, Registration } from './types';

export type FunctionsLibrary = typeof Functions;
export type InvocationContext = Functions.InvocationContext;

interface BindingOptions {
  trigger: BindingMetadata & { name: string };
  extraInputs: (BindingMetadata & { name: string })[];
  extraOutputs: (BindingMetadata & { name: string })[];
  return?: BindingMetadata & { name: string };
}

export interface InvokeRequest {
  registration: Registration;
  trigger: unknown;
  /** Values of extra input bindings, by binding name. */
  extraInputs?: Record<string, unknown>;
  triggerMetadata?: Record<string, unknown>;
  retryContext?: { retryCount: number; maxRetryCount: number };
  /** Text shown in the "Executing" line, as in `func start` logs. */
  reason?: string;
  invocationId?: string;
}

export interface InvokeResult {
  result: unknown;
  context: InvocationContext;
}

export function triggerBinding(registration: Registration): BindingMetadata & { name: string } {
  for (const [name, binding] of Object.entries(registration.metadata.bindings)) {
    if (binding.direction === 'in' && binding.type.toLowerCase().endsWith('trigger'))
      return { ...binding, name };
  }
  return { type: 'unknown', direction: 'in', name: 'unknown' };
}

function formatArgs(args: unknown[]): string {
  return args
    .map((arg) => (typeof arg === 'string' ? arg : inspect(arg, { depth: 4, breakLength: Infinity })))
    .join(' ');
}

/** Calls registered handlers the way the worker does: context, pre/post invocation hooks, logs. */
export class Invoker {
  readonly lib: FunctionsLibrary;
  private readonly optionsCache = new Map<string, BindingOptions>();
  private readonly appHookData: Record<string, unknown> = {};

  constructor(
    private readonly app: LoadedApp,
    private readonly log: LogLine,
    private readonly quiet: boolean,
  ) {
    this.lib = app.appRequire('@azure/functions') as FunctionsLibrary;
  }

  get hookData(): Record<string, unknown> {
    return this.appHookData;
  }

  bindingOptions(registration: Registration): BindingOptions {
    const cached = this.optionsCache.get(registration.metadata.name);
    if (cached) return cached;
    const options: BindingOptions = {
      trigger: triggerBinding(registration),
      extraInputs: [],
      extraOutputs: [],
    };
    for (const [name, binding] of Object.entries(registration.metadata.bindings)) {
      const named = { ...binding, name };
      if (name === '$return') options.return = named;
      else if (name === options.trigger.name) continue;
      else if (binding.direction === 'in') options.extraInputs.push(named);
      else options.extraOutputs.push(named);
    }
    this.optionsCache.set(registration.metadata.name, options);
    return options;
  }

  createContext(request: InvokeRequest, invocationId: string): InvocationContext {
    const functionName = request.registration.metadata.name;
    const prefix = `[${functionName}] [${invocationId}]`;
    const context = new this.lib.InvocationContext({
      invocationId,
      functionName,
      triggerMetadata: request.triggerMetadata,
      retryContext: request.retryContext,
      options: this.bindingOptions(
        request.registration,
      ) as unknown as Functions.InvocationContextInit['options'],
      logHandler: (level, ...args) => {
        if (!this.quiet)
          this.log(`${prefix} ${level === 'information' ? '' : `${level}: `}${formatArgs(args)}`);
      },
    });
    for (const [name, value] of Object.entries(request.extraInputs ?? {}))
      context.extraInputs.set(name, value);
    return context;
  }

  async invoke(request: InvokeRequest): Promise<InvokeResult> {
    const invocationId = request.invocationId ?? randomUUID();
    const context = this.createContext(request, invocationId);
    const name = request.registration.metadata.name;
    const started = Date.now();
    if (!this.quiet) {
      this.log(
        `Executing 'Functions.${name}' (Reason='${request.reason ?? 'This function was invoked'}', Id=${invocationId})`,
      );
    }
    try {
      const result = await this.invokeWithHooks(request, context);
      if (!this.quiet)
        this.log(
          `Executed 'Functions.${name}' (Succeeded, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
        );
      return { result, context };
    } catch (error) {
      if (!this.quiet) {
        this.log(
          `Executed 'Functions.${name}' (Failed, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
        );
        this.log(`${`[${name}] [${invocationId}]`} error: ${(error as Error)?.stack ?? String(error)}`);
      }
      throw error;
    }
  }

  /** Invocation without the Executing/Executed lines (durable functions run thousands of times). */
  async invokeSilently(request: InvokeRequest, invocationId: string): Promise<InvokeResult> {
    const context = this.createContext(request, invocationId);
    return { result: await this.invokeWithHooks(request, context), context };
  }

  async invokeWithContext(request: InvokeRequest, context: InvocationContext): Promise<unknown> {
    return this.invokeWithHooks(request, context);
  }

  private async invokeWithHooks(request: InvokeRequest, context: InvocationContext): Promise<unknown> {
    const pre = this.app.hooks.get('preInvocation') ?? [];
    const post = this.app.hooks.get('postInvocation') ?? [];
    if (pre.length === 0 && post.length === 0) {
      return await request.registration.callback(request.trigger, context);
    }
    const hookData: Record<string, unknown> = {};
    const preContext: Record<string, unknown> = {
      hookData,
      appHookData: this.appHookData,
      invocationContext: context,
      inputs: [request.trigger],
      functionCallback: request.registration.callback,
    };
    for (const hook of pre) await hook(preContext);
    const inputs = preContext.inputs as unknown[];
    const callback = preContext.functionCallback as Registration['callback'];
    let result: unknown;
    let error: unknown;
    try {
      result = await callback(...inputs, context);
    } catch (thrown) {
      error = thrown;
    }
    const postContext: Record<string, unknown> = {
      hookData,
      appHookData: this.appHookData,
      invocationContext: context,
      inputs,
      result,
      error,
    };
    for (const hook of post) await hook(postContext);
    const failure = postContext.error;
    if (failure !== undefined && failure !== null)
      throw typeof failure === 'object' ? (failure as Error) : new Error(inspect(failure));
    return postContext.result;
  }

  async runAppHook(name: 'appStart' | 'appTerminate'): Promise<void> {
    for (const hook of this.app.hooks.get(name) ?? []) {
      await hook({ hookData: {}, appHookData: this.appHookData, functionAppDirectory: this.app.appDir });
    }
  }
}
