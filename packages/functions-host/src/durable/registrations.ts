import type { Registration } from '../runtime/types';

function typeOfTrigger(registration: Registration): string | undefined {
  for (const binding of Object.values(registration.metadata.bindings)) {
    if (binding.direction === 'in' && binding.type.endsWith('Trigger')) return binding.type;
  }
  return undefined;
}

/** The registration named `name` when its trigger is `triggerType` (orchestrationTrigger, activityTrigger). */
export function registrationOfKind(
  registrations: Map<string, Registration>,
  name: string,
  triggerType: 'orchestrationTrigger' | 'activityTrigger',
): Registration | undefined {
  const registration = registrations.get(name);
  return registration && typeOfTrigger(registration) === triggerType ? registration : undefined;
}

export function unknownOrchestratorMessage(name: string): string {
  return `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`;
}
