import fc from 'fast-check';
import { SpecValidationError } from '../../../src/errors';
import { parseJobText, parseJobValue } from '../../../src/job';
import { minimalSpec } from './helpers';

/** Succeeds, or fails with the project's validation error; anything else escaping is a defect. */
function expectLoadsOrRejectsCleanly(load: () => unknown): void {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(SpecValidationError);
  }
}

const fieldPaths = [
  ['name'],
  ['retry_settings'],
  ['retry_settings', 'timeout'],
  ['mini_batch_size'],
  ['partition_keys'],
  ['input_data'],
  ['inputs'],
  ['inputs', 'data'],
  ['inputs', 'data', 'path'],
  ['outputs'],
  ['task'],
  ['task', 'program_arguments'],
  ['task', 'append_row_to'],
  ['identity'],
  ['environment_variables'],
];

function setPath(target: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(target);
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
  return copy;
}

describe('only SpecValidationError escapes', () => {
  it('for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => expectLoadsOrRejectsCleanly(() => parseJobValue(value))),
    );
  });

  it('for any field of a valid spec replaced by any value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...fieldPaths), fc.anything(), (path, value) =>
        expectLoadsOrRejectsCleanly(() => parseJobValue(setPath(minimalSpec(), path, value))),
      ),
    );
  });

  it('for any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), (text) =>
        expectLoadsOrRejectsCleanly(() => parseJobText(text)),
      ),
    );
  });

  it('for YAML-looking text', () => {
    const yamlish = fc
      .array(
        fc.constantFrom(
          'a: 1',
          '- x',
          '  b: [',
          '&a x',
          '*a',
          '!!str y',
          '!tag z',
          '? k',
          ': v',
          '{',
          '}',
          '"',
          "'",
          '|',
          '>',
          '---',
          '...',
          '%YAML 1.2',
          '<<: *a',
        ),
        { maxLength: 12 },
      )
      .map((lines) => lines.join('\n'));
    fc.assert(fc.property(yamlish, (text) => expectLoadsOrRejectsCleanly(() => parseJobText(text))));
  });
});
