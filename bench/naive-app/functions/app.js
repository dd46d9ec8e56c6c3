'use strict';
// The naive fan-out that bench/orchestrator.js compares against: one orchestrator schedules every
// mini-batch at once and waits for all of them, so its single history holds two events per mini-batch.
//   NaiveFanOut:   no-op activities (the orchestration cost alone).
//   NaiveFanOutIo: each activity does the storage work of one of our no-op mini-batches (read the input
//                  blob, write an attempt log and an attempt record), without the task's worker pool.
const df = require('durable-functions');
const { BlobServiceClient } = require('@azure/storage-blob');

let service;
const blobs = () => (service ??= BlobServiceClient.fromConnectionString(process.env.AzureWebJobsStorage));

function fanOut(activity) {
  return function* (context) {
    const { count, prefix } = context.df.getInput();
    const items = Array.from({ length: count }, (_, i) => i);
    const results = yield context.df.Task.all(
      items.map((i) => context.df.callActivity(activity, { i, prefix })),
    );
    return results.length;
  };
}

df.app.orchestration('NaiveFanOut', fanOut('noop'));
df.app.orchestration('NaiveFanOutIo', fanOut('noopIo'));

df.app.activity('noop', { handler: ({ i }) => ({ index: i }) });

df.app.activity('noopIo', {
  handler: async ({ i, prefix }) => {
    const name = `${prefix}/f-${String(i).padStart(7, '0')}.txt`;
    const text = (
      await blobs().getContainerClient('inputs').getBlobClient(name).downloadToBuffer()
    ).toString();
    const logs = blobs().getContainerClient('logs');
    const log = `mini-batch ${i} attempt 1\n${text}\n`;
    await logs.getBlockBlobClient(`naive/${i}/attempt-1.log`).upload(log, Buffer.byteLength(log));
    const record = JSON.stringify({ index: i, attempt: 1, status: 'succeeded', items: 1 });
    await logs.getBlockBlobClient(`naive/${i}/attempt-1.json`).upload(record, Buffer.byteLength(record));
    return { index: i, status: 'succeeded', items: 1, succeeded: 1, failed: 0 };
  },
});
