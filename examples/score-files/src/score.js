// A tiny lexicon scorer: init() reads the word lists once per worker, run() scores each file.
let positive;
let negative;

exports.init = (ctx) => {
  positive = new Set(String(ctx.args.options.positive ?? '').split(','));
  negative = new Set(String(ctx.args.options.negative ?? '').split(','));
  ctx.log(`lexicon: ${positive.size} positive, ${negative.size} negative words`);
};

exports.run = async (files, ctx) => {
  const rows = [];
  for (const file of files) {
    const words = (await file.text()).toLowerCase().match(/[a-z]+/g) ?? [];
    const score = words.reduce((sum, w) => sum + (positive.has(w) ? 1 : negative.has(w) ? -1 : 0), 0);
    rows.push(`${file.name.split('/').pop()},${words.length},${score}`);
  }
  ctx.log(`mini-batch ${ctx.miniBatchIndex}: scored ${rows.length} files`);
  return rows;
};
