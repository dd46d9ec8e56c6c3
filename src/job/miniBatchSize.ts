/**
 * `mini_batch_size`: a count of files for file input, approximate bytes for tabular (mltable) input.
 * Same syntax as Azure ML: digits with an optional binary unit, `^\d+([kKmMgG][bB])?$`.
 */
export const MINI_BATCH_SIZE_PATTERN = /^\d+([kKmMgG][bB])?$/;

/** Defaults when the spec gives no mini_batch_size (the Azure ML SDK's documented 10 files / 1 MB). */
export const DEFAULT_FILES_PER_MINI_BATCH = 10;
export const DEFAULT_BYTES_PER_MINI_BATCH = 1024 * 1024;

/** Below this, a plain number on tabular input is almost certainly meant as rows, not bytes. */
export const SUSPICIOUSLY_FEW_BYTES = 1024;

const UNIT_FACTORS: Record<string, number> = { kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export interface MiniBatchSize {
  value: number;
  /** True when written with kb/mb/gb, i.e. clearly a size in bytes. */
  hasUnit: boolean;
}

export type MiniBatchSizeParse = { ok: true; size: MiniBatchSize } | { ok: false; message: string };

const SYNTAX_HINT =
  'write a whole number (files per mini-batch for file input) or a size such as 512kb, 1mb or 1gb';

export function parseMiniBatchSize(raw: string | number): MiniBatchSizeParse {
  if (typeof raw === 'number') return fromNumber(raw);
  const text = raw.trim();
  const spaced = /^(\d+)\s+([kKmMgG][bB])$/.exec(text);
  if (spaced) {
    return { ok: false, message: `"${raw}" has a space before the unit; write "${spaced[1]}${spaced[2]}"` };
  }
  if (!MINI_BATCH_SIZE_PATTERN.test(text))
    return { ok: false, message: `"${raw}" is not a valid size; ${SYNTAX_HINT}` };
  const unit = text.slice(-2).toLowerCase();
  const factor = UNIT_FACTORS[unit];
  const digits = factor === undefined ? text : text.slice(0, -2);
  return checkRange(Number(digits) * (factor ?? 1), factor !== undefined, raw);
}

function fromNumber(raw: number): MiniBatchSizeParse {
  if (!Number.isInteger(raw)) return { ok: false, message: `${raw} is not a whole number; ${SYNTAX_HINT}` };
  return checkRange(raw, false, raw);
}

function checkRange(value: number, hasUnit: boolean, raw: string | number): MiniBatchSizeParse {
  if (value < 1) return { ok: false, message: `must be at least 1; got ${JSON.stringify(raw)}` };
  if (!Number.isSafeInteger(value)) return { ok: false, message: `${JSON.stringify(raw)} is too large` };
  return { ok: true, size: { value, hasUnit } };
}
