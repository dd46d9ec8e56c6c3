import { appEnvironments } from './nodeModule';

/** Settings written into the app's environments for a host's lifetime, and put back as they were. */
export class EnvironmentOverrides {
  private readonly environments = appEnvironments();
  private readonly backup = new Map<string, (string | undefined)[]>();

  set(name: string, value: string): void {
    if (!this.backup.has(name))
      this.backup.set(
        name,
        this.environments.map((env) => env[name]),
      );
    for (const env of this.environments) env[name] = value;
  }

  restore(): void {
    for (const [name, values] of this.backup) {
      this.environments.forEach((env, index) => {
        const value = values[index];
        if (value === undefined) delete env[name];
        else env[name] = value;
      });
    }
  }
}
