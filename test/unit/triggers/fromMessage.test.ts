import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import {
  MAX_DEAD_LETTER_DESCRIPTION,
  capDescription,
  describeIssues,
  jobIdForMessage,
  readMessageBody,
  serviceBusMessageContextSchema,
  settle,
  settlementActions,
} from '../../../src/triggers/fromMessage';

describe('readMessageBody', () => {
  test('a JSON object is a spec value; an object with spec_blob is a blob reference', () => {
    expect(readMessageBody({ name: 'x', type: 'parallel' })).toEqual({
      kind: 'spec',
      spec: { name: 'x', type: 'parallel' },
    });
    expect(readMessageBody({ spec_blob: 'jobs/a.yml' })).toEqual({ kind: 'blob', reference: 'jobs/a.yml' });
  });

  test('text is a spec, unless it is JSON text of a blob reference', () => {
    expect(readMessageBody('name: x\ntype: parallel\n')).toEqual({
      kind: 'spec',
      spec: 'name: x\ntype: parallel\n',
    });
    expect(readMessageBody(' {"spec_blob": "jobs/a.yml"}')).toEqual({
      kind: 'blob',
      reference: 'jobs/a.yml',
    });
    // Broken JSON stays a spec: the spec parser reports where it breaks.
    expect(readMessageBody('{"spec_blob": ')).toEqual({ kind: 'spec', spec: '{"spec_blob": ' });
  });

  test('UTF-8 bytes are read as text; other bytes are unreadable', () => {
    expect(readMessageBody(Buffer.from('{"spec_blob":"inputs/s.json"}'))).toEqual({
      kind: 'blob',
      reference: 'inputs/s.json',
    });
    expect(readMessageBody(Buffer.from([0xff, 0xfe, 0x00]))).toMatch(/not UTF-8 text/);
  });

  test.each([
    ['empty text', '   ', /empty/],
    ['null', null, /empty/],
    ['a number', 42, /number, not a job spec/],
    ['a list', [1, 2], /a list, not a job spec/],
    ['a reference with extra keys', { spec_blob: 'jobs/a.yml', name: 'x' }, /exactly \{"spec_blob"/],
    ['a reference that is not text', { spec_blob: 7 }, /spec_blob/],
  ])('%s is unreadable, with a hint', (_label, body, message) => {
    const read = readMessageBody(body);
    expect(typeof read).toBe('string');
    expect(read).toMatch(message);
  });
});

describe('jobIdForMessage', () => {
  test('the same message id always gives the same job id', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,60}$/), (id) => {
        const first = jobIdForMessage(id);
        expect(first).toEqual(jobIdForMessage(id));
        expect(first).toEqual({
          jobId: expect.stringMatching(/^msg\.[A-Za-z0-9_-]+\.[0-9a-f]{16}$/),
          messageId: id,
        });
      }),
    );
  });

  test('numbers and binary ids are usable; missing or symbol-only ids are dead-lettered', () => {
    expect(jobIdForMessage(42)).toEqual({ jobId: expect.stringMatching(/^msg\.42\./), messageId: '42' });
    expect(jobIdForMessage(Buffer.from([0xab, 0x01]))).toEqual({
      jobId: expect.stringMatching(/^msg\.ab01\./),
      messageId: 'ab01',
    });
    expect(jobIdForMessage(undefined)).toMatchObject({ action: 'deadLetter', reason: 'MESSAGE_UNREADABLE' });
    expect(jobIdForMessage('///')).toEqual({
      jobId: expect.stringMatching(/^msg\.x\.[0-9a-f]{16}$/),
      messageId: '///',
    });
    // The same text as a string, a number and bytes: three different messages, three jobs.
    const ids = [jobIdForMessage('42'), jobIdForMessage(42), jobIdForMessage(Buffer.from('42'))];
    expect(new Set(ids.map((id) => ('jobId' in id ? id.jobId : id.action))).size).toBe(3);
  });
});

describe('descriptions', () => {
  test('every problem is listed with its field path and YAML position', () => {
    const text = describeIssues([
      { path: 'mini_batch_size', message: "must look like '10' or '100mb'", line: 6, column: 18 },
      { path: '', message: 'unknown key' },
    ]);
    expect(text.split('\n')).toEqual([
      '2 problems in the job spec:',
      "mini_batch_size (line 6, column 18): must look like '10' or '100mb'",
      '(root): unknown key',
    ]);
  });

  test('a long description is cut at a line boundary under the Service Bus limit and says what was left out', () => {
    const lines = Array.from({ length: 400 }, (_, i) => `field_${i}: a problem described at some length`);
    const capped = capDescription(lines.join('\n'));
    expect(capped.length).toBeLessThanOrEqual(MAX_DEAD_LETTER_DESCRIPTION);
    const kept = capped.split('\n');
    const note = kept.pop();
    expect(kept).toEqual(lines.slice(0, kept.length));
    expect(note).toBe(`(${lines.length - kept.length} more lines left out)`);
  });

  test('any text fits the limit', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 9000 }), fc.integer({ min: 20, max: 5000 }), (text, limit) => {
        expect(capDescription(text, limit).length).toBeLessThanOrEqual(limit);
      }),
    );
  });

  test('text within the limit is unchanged', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 4096 }), (text) => {
        expect(capDescription(text)).toBe(text);
      }),
    );
  });
});

describe('settlement', () => {
  const proto = path.join(
    path.dirname(require.resolve('@azure/functions-extensions-servicebus')),
    'proto',
    'settlement.proto',
  );
  const definition = protoLoader.loadSync(proto, {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [path.dirname(proto)],
  });
  const service = (grpc.loadPackageDefinition(definition).Settlement as grpc.ServiceClientConstructor)
    .service;

  const rpcName = { complete: 'Complete', deadletter: 'Deadletter' } as const;

  /** Settlement actions shaped like the extension's: they serialize the request as its gRPC client does. */
  function recordingActions() {
    const sent: { method: string; request: Buffer }[] = [];
    const serialize = (method: 'complete' | 'deadletter', request: object) => {
      sent.push({ method, request: service[rpcName[method]]!.requestSerialize(request) });
      return Promise.resolve();
    };
    return {
      sent,
      decode: (index: number) => {
        const entry = sent[index]!;
        return service[rpcName[entry.method as keyof typeof rpcName]]!.requestDeserialize(
          entry.request,
        ) as Record<string, unknown>;
      },
      raw: {
        complete: (message: { lockToken: string }) => serialize('complete', { locktoken: message.lockToken }),
        deadletter: (
          message: { lockToken: string },
          properties?: Uint8Array,
          reason?: unknown,
          description?: unknown,
        ) =>
          serialize('deadletter', {
            locktoken: message.lockToken,
            propertiesToModify: properties ?? new Uint8Array(),
            deadletterReason: reason,
            deadletterErrorDescription: description,
          }),
      },
    };
  }

  test('a dead letter carries the reason and description in the form the Settlement proto takes', async () => {
    const recorder = recordingActions();
    const actions = settlementActions(recorder.raw as never);
    const message = { lockToken: '0f8fad5b-d9cb-469f-a165-70867728950e' };

    await settle(actions, message, {
      action: 'deadLetter',
      reason: 'SPEC_INVALID',
      description: 'mini_batch_size: bad',
    });
    await settle(actions, message, { action: 'complete', jobId: 'j', created: true });

    expect(recorder.sent.map((entry) => entry.method)).toEqual(['deadletter', 'complete']);
    expect(recorder.decode(0)).toMatchObject({
      locktoken: message.lockToken,
      deadletterReason: { value: 'SPEC_INVALID' },
      deadletterErrorDescription: { value: 'mini_batch_size: bad' },
    });
    expect(recorder.decode(1)).toMatchObject({ locktoken: message.lockToken });
  });

  test('plain strings for the reason do not serialize: the wrapper is needed', () => {
    expect(() =>
      service.Deadletter!.requestSerialize({ locktoken: 'x', deadletterReason: 'SPEC_INVALID' }),
    ).toThrow(/object expected/);
  });

  test('the trigger value must be a message context with settlement actions', () => {
    const actions = { complete: () => Promise.resolve(), deadletter: () => Promise.resolve() };
    expect(serviceBusMessageContextSchema.safeParse({ messages: {}, actions }).success).toBe(true);
    expect(serviceBusMessageContextSchema.safeParse({ messages: [{}, {}], actions }).success).toBe(true);
    const plainBody = serviceBusMessageContextSchema.safeParse('name: x');
    expect(plainBody.success).toBe(false);
    const noActions = serviceBusMessageContextSchema.safeParse({ messages: {}, actions: {} });
    expect(noActions.error?.issues.map((issue) => issue.message)).toEqual([
      'expected the settlement actions (complete, deadletter)',
    ]);
  });

  test('the parsed context keeps the original actions object (its methods need their own this)', () => {
    class Actions {
      private readonly calls: string[] = [];
      complete() {
        this.calls.push('complete');
        return Promise.resolve();
      }
      deadletter() {
        return Promise.resolve();
      }
    }
    const original = new Actions();
    const parsed = serviceBusMessageContextSchema.parse({ messages: {}, actions: original });
    expect(parsed.actions).toBe(original);
  });
});
