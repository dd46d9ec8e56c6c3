import fs from 'node:fs';
import path from 'node:path';
import type { HistoryEvent } from './history';

export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Terminated';

export interface ParentRef {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
}

/** Everything needed to rebuild one orchestration instance. */
export interface InstanceRecord {
  instanceId: string;
  name: string;
  executionId: string;
  status: RuntimeStatus;
  suspended: boolean;
  /** JSON texts (null = no value). */
  input: string | null;
  output: string | null;
  customStatus: string | null;
  createdTime: string;
  lastUpdatedTime: string;
  history: HistoryEvent[];
  /** Events that arrived and wait for the next episode. */
  inbox: HistoryEvent[];
  parent: ParentRef | null;
}

export interface EpisodeRecord {
  k: 'ep';
  i: string;
  /** Execution the episode ran for. */
  x: string;
  /** How many inbox events it consumed. */
  n: number;
  /** Events appended to history. */
  h: HistoryEvent[];
  st: RuntimeStatus;
  o: string | null;
  cs: string | null;
  u: string;
  /** Records the episode emits (child starts, messages to a parent, a continue-as-new restart). */
  out: JournalRecord[];
}

export type JournalRecord =
  | { k: 'put'; s: InstanceRecord }
  | { k: 'msg'; i: string; x?: string; e: HistoryEvent }
  | EpisodeRecord
  | { k: 'del'; i: string };

function reviveTimestamps(key: string, value: unknown): unknown {
  return key === 'Timestamp' && typeof value === 'string' ? new Date(value) : value;
}

/**
 * Append-only log of engine records. Lines are buffered for the current tick and written with one plain
 * write: a killed process keeps everything already written (the OS owns it), and a torn last line is
 * ignored on load. No fsync: this survives process crashes, not power loss.
 */
export class Journal {
  private fd: number | undefined;
  private buffer: string[] = [];
  private flushScheduled = false;
  bytesWritten = 0;

  constructor(readonly file: string) {}

  load(): JournalRecord[] {
    if (!fs.existsSync(this.file)) return [];
    const text = fs.readFileSync(this.file, 'utf8');
    const records: JournalRecord[] = [];
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      try {
        records.push(JSON.parse(line, reviveTimestamps) as JournalRecord);
      } catch {
        break; // torn tail from a crash mid-write
      }
    }
    return records;
  }

  /** Replaces the log with `records` (compaction), then opens it for appending. */
  rewrite(records: Iterable<JournalRecord>): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.tmp`;
    const fd = fs.openSync(temp, 'w');
    let chunk: string[] = [];
    let size = 0;
    for (const record of records) {
      const line = JSON.stringify(record) + '\n';
      chunk.push(line);
      size += line.length;
      if (size > 1 << 20) {
        fs.writeSync(fd, chunk.join(''));
        chunk = [];
        size = 0;
      }
    }
    if (chunk.length > 0) fs.writeSync(fd, chunk.join(''));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(temp, this.file);
    this.fd = fs.openSync(this.file, 'a');
  }

  append(record: JournalRecord): void {
    this.buffer.push(JSON.stringify(record));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.buffer.length === 0 || this.fd === undefined) return;
    const data = this.buffer.join('\n') + '\n';
    this.buffer = [];
    fs.writeSync(this.fd, data);
    this.bytesWritten += data.length;
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
