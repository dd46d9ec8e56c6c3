// Flags large transactions. Rows with an unreadable amount are reported as failed items.
exports.run = (rows, ctx) => {
  const limit = Number(ctx.args.options.limit ?? 1000);
  const out = [];
  for (const row of rows) {
    const amount = Number(row.amount);
    if (!Number.isFinite(amount)) {
      ctx.fail(row, `amount '${row.amount}' is not a number`);
      continue;
    }
    out.push(`${row.id},${row.account},${amount.toFixed(2)},${amount > limit ? 'FLAG' : 'ok'}`);
  }
  return out;
};
