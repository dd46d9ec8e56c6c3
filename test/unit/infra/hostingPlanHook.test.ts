import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * infra/hooks/hosting-plan.sh run for real by sh, as azd runs it before provisioning and deploying: it lets
 * an azure.yaml go on only when the azd environment's PARALLEL_JOB_HOSTING_PLAN is the plan it deploys to.
 */

const hook = path.resolve(__dirname, '../../../infra/hooks/hosting-plan.sh');

function runHook(expected: string, plan: string | undefined) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  if (plan !== undefined) env.PARALLEL_JOB_HOSTING_PLAN = plan;
  return spawnSync('sh', [hook, expected], { encoding: 'utf8', env });
}

describe('infra/hooks/hosting-plan.sh', () => {
  it.each([
    ['flexconsumption', 'flexconsumption'],
    ['containerapp', 'containerapp'],
  ])('lets the %s project go on when the environment says %s', (expected, plan) => {
    const result = runHook(expected, plan);
    expect(result.status).toBe(0);
    expect(result.stdout + result.stderr).toBe('');
  });

  it('takes an unset plan as flexconsumption, the template default', () => {
    expect(runHook('flexconsumption', undefined).status).toBe(0);
    const container = runHook('containerapp', undefined);
    expect(container.status).toBe(1);
    expect(container.stderr).toContain("PARALLEL_JOB_HOSTING_PLAN is 'flexconsumption'");
    expect(container.stderr).toContain('azd env set PARALLEL_JOB_HOSTING_PLAN containerapp');
  });

  it('stops the Flex Consumption project in a container environment, and says where to go', () => {
    const result = runHook('flexconsumption', 'containerapp');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("PARALLEL_JOB_HOSTING_PLAN is 'containerapp'");
    expect(result.stderr).toContain('azd -C infra/container up');
  });

  it('refuses to run without the plan of its azure.yaml', () => {
    const result = runHook('', 'containerapp');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('usage: hosting-plan.sh');
  });
});
