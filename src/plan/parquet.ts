/**
 * Parquet tables are planned from their footers: a file's footer lists its row groups with their rows
 * and the byte ranges of their column chunks, so mini-batches of whole row groups are cut without reading
 * a data page. The footer is read with range reads from the end of the file (see readParquetFooter).
 */
import { parquetMetadata, type FileMetaData, type RowGroup } from 'hyparquet';
import { ParquetFileError } from '../errors';
import type { ByteRangeReader } from './tabularAlign';

/** `PAR1`: a Parquet file starts and ends with it. */
const MAGIC = 0x31524150;
/** The end of every Parquet file: the footer's length (4 bytes, little-endian) and the magic. */
const TAIL_BYTES = 8;
/**
 * The largest footer read. Footers are read several files at a time while planning
 * (PARQUET_FOOTER_CONCURRENCY), so this times that bounds planning's memory; a footer this large
 * describes hundreds of thousands of column chunks.
 */
export const MAX_FOOTER_BYTES = 16 * 1024 * 1024;
/** Footer reads in flight while planning: enough to hide storage latency, few enough to bound memory. */
export const PARQUET_FOOTER_CONCURRENCY = 16;

/** One row group as planning and reading see it: its rows, and the file bytes of its column chunks. */
export interface RowGroupSpan {
  rows: number;
  /** Byte range [start, end) of the file that holds the row group's column chunks. */
  start: number;
  end: number;
}

/** A file's footer, parsed, and where it is (its bytes are what a reader of the file needs besides data). */
export interface ParquetFooter {
  metadata: FileMetaData;
  /** The footer's bytes: the metadata, its length and the closing magic. */
  bytes: Buffer;
}

/**
 * Reads and parses the footer of a Parquet file of `fileSize` bytes by two range reads from its end: its
 * last 8 bytes (the footer's length and the magic), then the footer itself, so that not a byte of a data
 * page is read. (A speculative larger first read would save a request but read data.) A file that is too short, lacks
 * the closing magic (truncated, or still being written), declares a footer larger than the file or than
 * MAX_FOOTER_BYTES, or whose footer does not parse is a ParquetFileError naming the reason.
 */
export async function readParquetFooter(
  read: ByteRangeReader,
  fileSize: number,
  blob: string,
): Promise<ParquetFooter> {
  if (fileSize < 12) {
    throw new ParquetFileError(
      blob,
      `the file has ${fileSize} bytes, fewer than a Parquet file's 12 at least`,
    );
  }
  const tailStart = fileSize - TAIL_BYTES;
  const tail = await read(tailStart, fileSize);
  if (tail.length !== TAIL_BYTES) {
    throw new ParquetFileError(blob, `reading its last ${TAIL_BYTES} bytes gave ${tail.length}`);
  }
  if (tail.readUInt32LE(4) !== MAGIC) {
    throw new ParquetFileError(
      blob,
      'it does not end with the Parquet footer (the magic bytes PAR1): the file is truncated or not Parquet',
    );
  }
  const metadataLength = tail.readUInt32LE(0);
  const footerLength = metadataLength + TAIL_BYTES;
  if (footerLength + 4 > fileSize) {
    throw new ParquetFileError(
      blob,
      `its footer claims ${metadataLength.toLocaleString('en-US')} bytes of metadata, more than the file holds`,
    );
  }
  if (footerLength > MAX_FOOTER_BYTES) {
    throw new ParquetFileError(
      blob,
      `its footer is ${footerLength.toLocaleString('en-US')} bytes, more than the ${MAX_FOOTER_BYTES.toLocaleString('en-US')} read while planning; write the file with fewer row groups or columns`,
    );
  }
  const footerStart = fileSize - footerLength;
  const metadataBytes = await read(footerStart, tailStart);
  if (metadataBytes.length !== metadataLength) {
    throw new ParquetFileError(
      blob,
      `reading its ${metadataLength} bytes of metadata gave ${metadataBytes.length}`,
    );
  }
  const bytes = Buffer.concat([metadataBytes, tail]);
  let metadata: FileMetaData;
  try {
    metadata = parquetMetadata(bytes);
  } catch (error) {
    throw new ParquetFileError(blob, `its footer does not parse (${(error as Error).message})`, {
      cause: error,
    });
  }
  rowGroupSpans(metadata, footerStart, blob);
  return { metadata, bytes };
}

/** The first byte of a column chunk: its dictionary page when it has one, else its first data page. */
function chunkStart(meta: NonNullable<RowGroup['columns'][number]['meta_data']>): number {
  const data = Number(meta.data_page_offset);
  const dictionary = meta.dictionary_page_offset === undefined ? 0 : Number(meta.dictionary_page_offset);
  // Some writers put 0 here for "none"; a dictionary page always comes before the data pages.
  return dictionary > 0 && dictionary < data ? dictionary : data;
}

/**
 * The row groups of a file with the byte span of each one's column chunks, checked to lie between the
 * leading magic and the footer (`footerStart`): a footer that points elsewhere is a ParquetFileError.
 */
export function rowGroupSpans(metadata: FileMetaData, footerStart: number, blob: string): RowGroupSpan[] {
  return metadata.row_groups.map((group, index) => {
    let start = Infinity;
    let end = 0;
    for (const column of group.columns) {
      const meta = column.meta_data;
      if (!meta) throw new ParquetFileError(blob, `row group ${index} has a column chunk without metadata`);
      if (column.file_path) {
        throw new ParquetFileError(
          blob,
          `row group ${index} keeps its data in another file ('${column.file_path}'), which is not read`,
        );
      }
      const from = chunkStart(meta);
      start = Math.min(start, from);
      end = Math.max(end, from + Number(meta.total_compressed_size));
    }
    if (group.columns.length === 0) start = end = 4;
    if (!(start >= 4 && end <= footerStart && start <= end)) {
      throw new ParquetFileError(
        blob,
        `its footer places row group ${index} at bytes ${start}-${end}, outside the file's data (4-${footerStart})`,
      );
    }
    return { rows: Number(group.num_rows), start, end };
  });
}

/** A run of consecutive row groups of one file: one Parquet mini-batch. */
export interface RowGroupRun {
  first: number;
  count: number;
  rows: number;
  bytes: number;
  /** The file row of the run's first row (0-based). */
  firstRow: number;
}

/**
 * Consecutive row groups gathered up to `targetBytes` of column chunks each. A row group is never split,
 * so one larger than the target is a run of its own; row groups without rows are kept in the run they
 * fall in (they cost nothing to read).
 */
export function rowGroupRuns(spans: readonly RowGroupSpan[], targetBytes: number): RowGroupRun[] {
  const runs: RowGroupRun[] = [];
  let current: RowGroupRun | undefined;
  let firstRow = 0;
  spans.forEach((span, index) => {
    const bytes = span.end - span.start;
    if (!current || (current.bytes > 0 && current.bytes + bytes > targetBytes)) {
      current = { first: index, count: 0, rows: 0, bytes: 0, firstRow };
      runs.push(current);
    }
    current.count += 1;
    current.rows += span.rows;
    current.bytes += bytes;
    firstRow += span.rows;
  });
  // A file of empty row groups has no rows to hand out.
  return runs.filter((run) => run.rows > 0);
}
