// Writes two CSV files of transactions to ./data, a few rows with a bad amount. Usage: node generate.js [rows]
const fs = require('node:fs');
const path = require('node:path');
const rows = Number(process.argv[2] ?? 2000);
const dir = path.join(__dirname, 'data');
fs.mkdirSync(dir, { recursive: true });
let seed = 11;
const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (const part of [0, 1]) {
  const lines = ['id,account,amount,note'];
  for (let i = 0; i < rows / 2; i += 1) {
    const id = part * (rows / 2) + i;
    const amount = id % 97 === 5 ? 'n/a' : (next() * 1200).toFixed(2);
    lines.push(`${id},acct-${Math.floor(next() * 50)},${amount},"note ${id}, ok"`);
  }
  fs.writeFileSync(path.join(dir, `transactions-${part}.csv`), `${lines.join('\n')}\n`);
}
console.log(`wrote ${rows} rows to ${dir}`);
