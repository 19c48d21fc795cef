/**
 * Eval data (JSONL), as the design fixes it. Language models: `{"input_ids": [...]}` (next-token targets are the
 * ids shifted by one). Classifiers: `{"input": [...], "label": k}`; several inputs: `{"inputs": {"name": [...]}, "label": k}`.
 */
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../errors.ts';

export type EvalRecord =
  | { kind: 'tokens'; inputIds: number[]; line: number }
  | { kind: 'tensor'; inputs: Record<string, number[]>; label?: number; line: number };

function isNumberArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}

/** Parses one JSONL document; `subject` names the file in errors, which also give the line and field. */
export function parseEvalData(text: string, subject: string): EvalRecord[] {
  const records: EvalRecord[] = [];
  // A byte-order mark (Windows editors write one) is not part of the first line's JSON.
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new ConfigurationError(`line ${line} is not valid JSON (${(error as Error).message})`, {
        subject,
        fix: 'Write one JSON object per line',
      });
    }
    const bad = (field: string, problem: string): ConfigurationError =>
      new ConfigurationError(`line ${line}, field "${field}": ${problem}`, {
        subject,
        fix: 'Use {"input_ids":[...]} for language models or {"input":[...],"label":k} for classifiers',
      });
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw bad('(line)', 'must be a JSON object');
    const record = value as Record<string, unknown>;
    const label = record.label;
    if (label !== undefined && (typeof label !== 'number' || !Number.isInteger(label))) {
      throw bad('label', 'must be an integer class index');
    }
    if ('input_ids' in record) {
      if (
        !isNumberArray(record.input_ids) ||
        !record.input_ids.every((id) => Number.isInteger(id) && id >= 0)
      ) {
        throw bad('input_ids', 'must be an array of integer token ids');
      }
      if (record.input_ids.length === 0) throw bad('input_ids', 'is empty');
      records.push({ kind: 'tokens', inputIds: record.input_ids, line });
    } else if ('input' in record) {
      if (!isNumberArray(record.input)) throw bad('input', 'must be an array of numbers');
      records.push({
        kind: 'tensor',
        inputs: { '': record.input },
        ...(label === undefined ? {} : { label }),
        line,
      });
    } else if ('inputs' in record) {
      const inputs = record.inputs;
      if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs))
        throw bad('inputs', 'must be an object');
      for (const [name, v] of Object.entries(inputs))
        if (!isNumberArray(v)) throw bad(`inputs.${name}`, 'must be an array of numbers');
      records.push({
        kind: 'tensor',
        inputs: inputs as Record<string, number[]>,
        ...(label === undefined ? {} : { label }),
        line,
      });
    } else {
      throw bad('(line)', 'has none of "input_ids", "input" or "inputs"');
    }
  });
  if (records.length === 0)
    throw new ConfigurationError('holds no records', { subject, fix: 'Add at least one JSON line' });
  return records;
}

export function readEvalData(path: string): EvalRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigurationError('eval data file not found', { subject: path, fix: 'Check the path' });
  }
  return parseEvalData(text, path);
}
