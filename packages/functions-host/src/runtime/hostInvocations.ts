import { randomUUID } from 'node:crypto';
import { durableClientInput, type ManagementUrlContext } from '../durable/api';
import type { Invoker } from './invoker';
import type { LogLine, Registration } from './types';

/** The URLs the app's Durable clients are given; `baseUrl` is known once the server listens. */
export class DurableClientUrls {
  baseUrl = '';

  constructor(
    private readonly hubName: string,
    private readonly systemKey: string | undefined,
  ) {}

  managementContext(): ManagementUrlContext {
    return {
      webhookBase: `${this.baseUrl}/runtime/webhooks/durabletask`,
      hubName: this.hubName,
      connectionName: 'Storage',
      code: this.systemKey,
    };
  }

  rpcBaseUrl(): string {
    if (!this.systemKey) return `${this.baseUrl}/durabletask/`;
    const url = new URL('/durabletask/', this.baseUrl);
    url.username = 'durabletask';
    url.password = this.systemKey;
    return url.href;
  }

  /** The Durable client inputs of a function, by binding name. */
  extraInputsFor(registration: Registration): Record<string, unknown> {
    const inputs: Record<string, unknown> = {};
    for (const [name, binding] of Object.entries(registration.metadata.bindings)) {
      if (
        binding.direction === 'in' &&
        (binding.type === 'durableClient' || binding.type === 'orchestrationClient')
      ) {
        inputs[name] = durableClientInput(this.managementContext(), this.rpcBaseUrl());
      }
    }
    return inputs;
  }
}

/** Function invocations made by the host, counted for its stats. */
export class FunctionCalls {
  count = 0;

  constructor(
    readonly invoker: Invoker,
    readonly clientUrls: DurableClientUrls,
  ) {}

  async nonHttp(
    registration: Registration,
    trigger: unknown,
    triggerMetadata: Record<string, unknown> | undefined,
    reason: string,
  ): Promise<unknown> {
    this.count += 1;
    const { result } = await this.invoker.invoke({
      registration,
      trigger,
      triggerMetadata,
      extraInputs: this.clientUrls.extraInputsFor(registration),
      reason,
    });
    return result;
  }
}

/** A fault of the host or of the function: an id for the caller, the details for the log. */
export function internalError(
  log: LogLine,
  where: string,
  error: unknown,
): { code: string; message: string; error_id: string } {
  const errorId = randomUUID();
  log(`${where} failed, error id ${errorId}: ${(error as Error)?.stack ?? String(error)}`);
  return {
    code: 'INTERNAL',
    message: `The request failed (error id ${errorId}); the details are in the host's log.`,
    error_id: errorId,
  };
}
