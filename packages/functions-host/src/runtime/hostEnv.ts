/**
 * Settings written into the process environment, where the app reads them, for a host's lifetime, and
 * put back as they were.
 */
export class EnvironmentOverrides {
  private readonly backup = new Map<string, string | undefined>();

  set(name: string, value: string): void {
    if (!this.backup.has(name)) this.backup.set(name, process.env[name]);
    process.env[name] = value;
  }

  restore(): void {
    for (const [name, value] of this.backup) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
