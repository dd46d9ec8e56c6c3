'use strict';
// The naive fan-out that bench/orchestrator.js compares against: one orchestrator schedules every
// mini-batch at once and waits for all of them, so its single history holds two events per mini-batch.
const df = require('durable-functions');

df.app.orchestration('NaiveFanOut', function* (context) {
  const { count } = context.df.getInput();
  const items = Array.from({ length: count }, (_, i) => i);
  const results = yield context.df.Task.all(items.map((i) => context.df.callActivity('noop', i)));
  return results.length;
});

df.app.activity('noop', { handler: (index) => ({ index }) });
