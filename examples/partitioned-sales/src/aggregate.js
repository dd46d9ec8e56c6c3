// Sums one region's sales. With partition_keys the context carries the key values of the mini-batch.
exports.run = (rows, ctx) => {
  const region = ctx.partitionKeyValue?.region ?? 'unknown';
  let total = 0;
  for (const row of rows) total += Number(row.amount);
  // One summary row per input row keeps the item accounting exact; the first carries the total.
  return rows.map((row, i) =>
    i === 0 ? `${region},${rows.length},${total.toFixed(2)}` : `${region},${row.store},${row.amount}`,
  );
};
