// Writes a Hive-partitioned Parquet table of orders under ./data/region=<r>/year=2026/part-<n>.parquet,
// 500 orders a file in row groups of 100, snappy, with hyparquet-writer. Usage: node generate.js
const fs = require('node:fs');
const path = require('node:path');
const { parquetWriteBuffer } = require('hyparquet-writer');

let seed = 11;
const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
let orderId = 1;
for (const region of ['asia', 'eu', 'us']) {
  const dir = path.join(__dirname, 'data', `region=${region}`, 'year=2026');
  fs.mkdirSync(dir, { recursive: true });
  for (let part = 0; part < 2; part += 1) {
    const rows = 500;
    const ids = new BigInt64Array(rows);
    const customers = [];
    const soldAt = [];
    const quantity = new Int32Array(rows);
    const unitPrice = new Float64Array(rows);
    const coupons = [];
    for (let i = 0; i < rows; i += 1) {
      ids[i] = BigInt(orderId++);
      customers.push(`${region}-customer-${Math.floor(next() * 200)}`);
      soldAt.push(
        new Date(
          Date.UTC(2026, Math.floor(next() * 12), 1 + Math.floor(next() * 28), 9 + Math.floor(next() * 10)),
        ),
      );
      quantity[i] = 1 + Math.floor(next() * 9);
      unitPrice[i] = Math.round(next() * 20000) / 100;
      coupons.push(next() < 0.2 ? 'SPRING10' : null);
    }
    const bytes = parquetWriteBuffer({
      rowGroupSize: 100,
      columnData: [
        { name: 'order_id', data: ids, type: 'INT64' },
        { name: 'customer', data: customers, type: 'STRING' },
        { name: 'sold_at', data: soldAt, type: 'TIMESTAMP' },
        { name: 'quantity', data: quantity, type: 'INT32' },
        { name: 'unit_price', data: unitPrice, type: 'DOUBLE' },
        { name: 'coupon', data: coupons, type: 'STRING' },
      ],
    });
    fs.writeFileSync(path.join(dir, `part-${String(part).padStart(4, '0')}.parquet`), new Uint8Array(bytes));
  }
}
fs.writeFileSync(
  path.join(__dirname, 'data', 'MLTable'),
  'paths:\n  - pattern: ./**/*.parquet\ntransformations:\n  - read_parquet\n',
);
console.log(`wrote 3 regions x 2 files, ${orderId - 1} orders`);
