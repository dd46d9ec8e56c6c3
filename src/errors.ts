/**
 * Every error the project raises on purpose is a ParallelJobError with a stable `code`.
 * Callers branch on `code` (it survives JSON and the activity boundary), never on the message,
 * which is written for people: it says what went wrong and what to change.
 */
export abstract class ParallelJobError extends Error {
  abstract readonly code: string;
  /** True when the same call may succeed if simply tried again (throttling, a dropped connection). */
  readonly retryable: boolean = false;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): { name: string; code: string; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** One problem found while validating user input; `path` is the field path, e.g. `retry_settings.timeout`. */
export interface ValidationIssue {
  path: string;
  message: string;
  /** YAML position of the field, when the input was YAML text. */
  line?: number;
  column?: number;
}

export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues
    .map((issue) => {
      const where = issue.line === undefined ? '' : ` (line ${issue.line}, column ${issue.column ?? 1})`;
      return `  - ${issue.path || '(root)'}${where}: ${issue.message}`;
    })
    .join('\n');
}

/** The job spec (YAML, JSON or constructor fields) is not valid. Carries every problem at once. */
export class SpecValidationError extends ParallelJobError {
  readonly code = 'SPEC_INVALID';
  constructor(
    readonly issues: readonly ValidationIssue[],
    readonly source?: string,
  ) {
    super(
      `The job spec${source ? ` ${source}` : ''} is not valid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}`,
    );
  }
}

/** An app setting is missing or malformed; raised at start-up by the composition root. */
export class ConfigError extends ParallelJobError {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly issues: readonly ValidationIssue[]) {
    super(`The app settings are not valid:\n${formatIssues(issues)}`);
  }
}
