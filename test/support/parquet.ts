import zlib from 'node:zlib';
import * as arrow from 'apache-arrow';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import * as parquetWasm from 'parquet-wasm/node';
import { readParquetFooter, rowGroupSpans } from '../../src/plan/parquet';
import type { ByteRangeReader } from '../../src/plan/tabularAlign';

/**
 * Parquet files for tests, written by real writers: hyparquet-writer (JavaScript) and parquet-wasm (the
 * Rust arrow-rs writer, built for WebAssembly). Which codecs each writes:
 *
 * | codec        | hyparquet-writer            | parquet-wasm |
 * | ------------ | --------------------------- | ------------ |
 * | UNCOMPRESSED | yes                         | yes          |
 * | SNAPPY       | yes (its own)               | yes          |
 * | GZIP         | with a compressor (zlib)    | yes          |
 * | ZSTD         | no zstd compressor for Node 20 | yes       |
 */
export type Codec = 'UNCOMPRESSED' | 'SNAPPY' | 'GZIP' | 'ZSTD';
export const CODECS: readonly Codec[] = ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'ZSTD'];

/** A file by hyparquet-writer: `rowGroupSize` rows per row group. */
export function writeWithHyparquet(
  columns: ColumnSource[],
  options: { codec: Exclude<Codec, 'ZSTD'>; rowGroupSize: number },
): Buffer {
  const bytes = parquetWriteBuffer({
    columnData: columns,
    codec: options.codec,
    compressors: { GZIP: (input: Uint8Array) => zlib.gzipSync(input) },
    rowGroupSize: options.rowGroupSize,
  });
  return Buffer.from(bytes);
}

const WASM_CODECS: Record<Codec, parquetWasm.Compression> = {
  UNCOMPRESSED: parquetWasm.Compression.UNCOMPRESSED,
  SNAPPY: parquetWasm.Compression.SNAPPY,
  GZIP: parquetWasm.Compression.GZIP,
  ZSTD: parquetWasm.Compression.ZSTD,
};

/** A file by parquet-wasm (arrow-rs) from an Arrow table: `rowGroupSize` rows per row group. */
export function writeWithArrow(table: arrow.Table, options: { codec: Codec; rowGroupSize: number }): Buffer {
  const properties = new parquetWasm.WriterPropertiesBuilder()
    .setCompression(WASM_CODECS[options.codec])
    .setMaxRowGroupSize(options.rowGroupSize)
    .build();
  const wasmTable = parquetWasm.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  return Buffer.from(parquetWasm.writeParquet(wasmTable, properties));
}

/** A 128-bit decimal value as Arrow's builder takes it: four little-endian 32-bit words of the unscaled integer. */
export function decimalWords(unscaled: bigint): Uint32Array {
  const words = new Uint32Array(4);
  let rest = BigInt.asUintN(128, unscaled);
  for (let i = 0; i < 4; i += 1) {
    words[i] = Number(rest & 0xffffffffn);
    rest >>= 32n;
  }
  return words;
}

/** Range reads of bytes in memory, as storage gives them. */
export function memoryReader(bytes: Buffer): ByteRangeReader {
  return (start, end) => Promise.resolve(bytes.subarray(start, end));
}

export { arrow };

/** `bytes` with row group `index`'s column chunks overwritten by 0xff, so that it no longer decodes. */
export async function corruptRowGroup(bytes: Buffer, index: number): Promise<Buffer> {
  const footer = await readParquetFooter(memoryReader(bytes), bytes.length, 'corrupt.parquet');
  const spans = rowGroupSpans(footer.metadata, bytes.length - footer.bytes.length, 'corrupt.parquet');
  const corrupt = Buffer.from(bytes);
  corrupt.fill(0xff, spans[index]!.start, spans[index]!.end);
  return corrupt;
}

/**
 * `bytes` with the last bytes of one column chunk's data (inside its last page's payload, after the page
 * header) overwritten: the row group's footer entry and page headers stay readable, one page does not.
 */
export async function corruptPage(bytes: Buffer, rowGroup: number, column: number): Promise<Buffer> {
  const footer = await readParquetFooter(memoryReader(bytes), bytes.length, 'corrupt.parquet');
  const chunk = footer.metadata.row_groups[rowGroup]!.columns[column]!.meta_data!;
  const start = Number(chunk.dictionary_page_offset ?? chunk.data_page_offset);
  const end = start + Number(chunk.total_compressed_size);
  const corrupt = Buffer.from(bytes);
  corrupt.fill(0x5a, end - 6, end);
  return corrupt;
}
