// Writes the example's data: N reviews to ./data and the model's word weights to ./model (deterministic).
// Usage: node generate.js [count]
const fs = require('node:fs');
const path = require('node:path');
const count = Number(process.argv[2] ?? 40);
const weights = { good: 1, great: 1.5, love: 2, excellent: 2, bad: -1, poor: -1.5, hate: -2, broken: -2 };
const words = [
  ...Object.keys(weights),
  'the',
  'product',
  'arrived',
  'works',
  'box',
  'price',
  'battery',
  'screen',
];
fs.mkdirSync(path.join(__dirname, 'model'), { recursive: true });
fs.writeFileSync(path.join(__dirname, 'model', 'weights.json'), `${JSON.stringify(weights, null, 2)}\n`);
const dir = path.join(__dirname, 'data');
fs.mkdirSync(dir, { recursive: true });
let seed = 11;
const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (let i = 0; i < count; i += 1) {
  const text = Array.from(
    { length: 15 + Math.floor(next() * 30) },
    () => words[Math.floor(next() * words.length)],
  ).join(' ');
  fs.writeFileSync(path.join(dir, `review-${String(i).padStart(4, '0')}.txt`), `${text}\n`);
}
