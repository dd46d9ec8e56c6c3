// Writes N review files to ./data (deterministic). Usage: node generate.js [count]
const fs = require('node:fs');
const path = require('node:path');
const count = Number(process.argv[2] ?? 60);
const words = [
  'good',
  'great',
  'love',
  'excellent',
  'bad',
  'poor',
  'hate',
  'broken',
  'the',
  'product',
  'arrived',
  'works',
  'box',
  'price',
];
const dir = path.join(__dirname, 'data');
fs.mkdirSync(dir, { recursive: true });
let seed = 7;
const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (let i = 0; i < count; i += 1) {
  const text = Array.from(
    { length: 20 + Math.floor(next() * 40) },
    () => words[Math.floor(next() * words.length)],
  ).join(' ');
  fs.writeFileSync(path.join(dir, `review-${String(i).padStart(4, '0')}.txt`), `${text}\n`);
}
console.log(`wrote ${count} files to ${dir}`);
