// An allocation-heavy task for bench/worker-heap.js: per item, builds a 2,000-row CSV text, parses it
// into objects and serializes them again, as a table transform would.
exports.run = function run(items) {
  return items.map((item) => {
    const lines = [];
    for (let row = 0; row < 2000; row += 1)
      lines.push(`${row},name-${row}-${item},${row * 1.5},"a, quoted ${row}"`);
    const records = lines
      .join('\n')
      .split('\n')
      .map((line) => {
        const [id, name, value, note] = line.split(',');
        return { id: Number(id), name, value: Number(value), note };
      });
    return JSON.stringify(records).length;
  });
};
