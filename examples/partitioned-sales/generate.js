// Writes sales CSVs under ./data/region=<r>/store=<s>.csv. Usage: node generate.js
const fs = require('node:fs');
const path = require('node:path');
let seed = 3;
const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (const region of ['north', 'south', 'east', 'west']) {
  const dir = path.join(__dirname, 'data', `region=${region}`);
  fs.mkdirSync(dir, { recursive: true });
  for (let store = 0; store < 3; store += 1) {
    const lines = ['store,day,amount'];
    for (let day = 1; day <= 30; day += 1)
      lines.push(`${region}-${store},${day},${(next() * 500).toFixed(2)}`);
    fs.writeFileSync(path.join(dir, `store-${store}.csv`), `${lines.join('\n')}\n`);
  }
}
console.log('wrote 4 regions x 3 stores');
