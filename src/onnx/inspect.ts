/** `slmops inspect`: what a model is made of, computed from the file alone (no onnxruntime). */
import { statSync } from 'node:fs';
import { sha256File } from '../util/hash.ts';
import { dtypeName } from './dtypes.ts';
import type { OnnxModel } from './model.ts';
import { type TypeProto, toNumber, type ValueInfoProto } from './proto.ts';
import { MAX_KNOWN_IR_VERSION, readModel } from './read.ts';
import { dimsOf, elementCount, tensorByteLength } from './tensor.ts';
import { forEachGraph, forEachNode, forEachTensor } from './walk.ts';

export interface ValueSummary {
  name: string;
  /** dtype name (`float32`, `int64`…), or the kind for non-tensors (`sequence`, `map`, `optional`). */
  type: string;
  /** Numbers for fixed dims, strings for symbolic dims, null for unknown ones; null when the rank is unknown. */
  shape: (number | string | null)[] | null;
}

export interface InspectReport {
  path: string;
  bytes: number;
  sha256: string;
  irVersion: number;
  producer: { name: string; version: string };
  opsets: { domain: string; version: number }[];
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** Sum of the element counts of all initializers (main graph and subgraphs; sparse ones by their dense shape). */
  parameters: number;
  initializerCount: number;
  /** Tensors held in node attributes (Constant nodes and the like). */
  constantTensors: number;
  bytesByDtype: { dtype: string; tensors: number; elements: number; bytes: number }[];
  opHistogram: { op: string; count: number }[];
  nodeCount: number;
  subgraphCount: number;
  functions: { domain: string; name: string; nodes: number }[];
  largestTensors: { name: string; dtype: string; dims: number[]; bytes: number; storage: string }[];
  externalData: {
    location: string;
    bytes: number;
    referencedBytes: number;
    tensors: number;
    sha256: string;
  }[];
  warnings: string[];
}

function describeType(type: TypeProto | null | undefined): Pick<ValueSummary, 'type' | 'shape'> {
  if (type?.tensorType) {
    const shape = type.tensorType.shape
      ? type.tensorType.shape.dim.map((d) =>
          d.dimParam
            ? d.dimParam
            : d.dimValue !== undefined && d.dimValue !== null
              ? toNumber(d.dimValue)
              : null,
        )
      : null;
    return { type: dtypeName(type.tensorType.elemType), shape };
  }
  if (type?.sequenceType) return { type: 'sequence', shape: null };
  if (type?.mapType) return { type: 'map', shape: null };
  if (type?.optionalType) return { type: 'optional', shape: null };
  if (type?.sparseTensorType)
    return { type: `sparse ${dtypeName(type.sparseTensorType.elemType)}`, shape: null };
  return { type: 'unknown', shape: null };
}

function summarize(values: ValueInfoProto[], exclude: Set<string> = new Set()): ValueSummary[] {
  return values.filter((v) => !exclude.has(v.name)).map((v) => ({ name: v.name, ...describeType(v.type) }));
}

/** Computes the report for an already-read model. */
export async function inspectLoadedModel(
  model: OnnxModel,
  options: { largest?: number } = {},
): Promise<InspectReport> {
  const proto = model.proto;
  const graph = proto.graph!;
  const warnings: string[] = [];
  const irVersion = toNumber(proto.irVersion);
  if (irVersion > MAX_KNOWN_IR_VERSION) {
    warnings.push(
      `IR version ${irVersion} is newer than onnxruntime 1.30 reads (13); re-save with ir_version ≤ 13`,
    );
  }

  let parameters = 0;
  let initializerCount = 0;
  let constantTensors = 0;
  const byDtype = new Map<string, { dtype: string; tensors: number; elements: number; bytes: number }>();
  const tensors: InspectReport['largestTensors'] = [];
  forEachTensor(proto, ({ tensor, kind }) => {
    const dims = dimsOf(tensor);
    const elements = elementCount(dims);
    const bytes = tensorByteLength(tensor);
    if (kind === 'initializer') {
      parameters += elements;
      initializerCount += 1;
    } else if (kind === 'attribute') {
      constantTensors += 1;
    }
    const dtype = dtypeName(tensor.dataType);
    const entry = byDtype.get(dtype) ?? { dtype, tensors: 0, elements: 0, bytes: 0 };
    entry.tensors += 1;
    entry.elements += elements;
    entry.bytes += bytes;
    byDtype.set(dtype, entry);
    const ref = model.externalRef(tensor);
    tensors.push({
      name: tensor.name,
      dtype,
      dims,
      bytes,
      storage: ref ? `external:${ref.location}` : 'inline',
    });
  });
  forEachGraph(proto, ({ graph: g }) => {
    for (const sparse of g.sparseInitializer ?? []) {
      parameters += elementCount(sparse.dims.map((d) => toNumber(d)));
      initializerCount += 1;
    }
  });

  const ops = new Map<string, number>();
  let nodeCount = 0;
  forEachNode(proto, ({ node, function: fn }) => {
    if (fn) return;
    nodeCount += 1;
    const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}::${node.opType}` : node.opType;
    ops.set(op, (ops.get(op) ?? 0) + 1);
  });
  let subgraphCount = -1;
  forEachGraph(proto, ({ scope }) => {
    if (scope === 'graph' || !scope.startsWith('training')) subgraphCount += 1;
  });

  const externalData = [];
  for (const file of model.externalFiles()) {
    externalData.push({
      location: file.location,
      bytes: statSync(file.file).size,
      referencedBytes: file.referencedBytes,
      tensors: file.tensors,
      sha256: await sha256File(file.file),
    });
  }

  const initializerNames = new Set(graph.initializer.map((t) => t.name));
  return {
    path: model.path ?? '',
    bytes: model.fileBytes,
    sha256: model.path ? await sha256File(model.path) : '',
    irVersion,
    producer: { name: proto.producerName, version: proto.producerVersion },
    opsets: proto.opsetImport.map((o) => ({ domain: o.domain || 'ai.onnx', version: toNumber(o.version) })),
    // Before IR 4, initializers were also listed as graph inputs; they are not inputs a caller feeds.
    inputs: summarize(graph.input, initializerNames),
    outputs: summarize(graph.output),
    parameters,
    initializerCount,
    constantTensors,
    bytesByDtype: [...byDtype.values()].sort((a, b) => b.bytes - a.bytes || a.dtype.localeCompare(b.dtype)),
    opHistogram: [...ops.entries()]
      .map(([op, count]) => ({ op, count }))
      .sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    nodeCount,
    subgraphCount: Math.max(0, subgraphCount),
    functions: proto.functions.map((f) => ({ domain: f.domain, name: f.name, nodes: f.node.length })),
    largestTensors: tensors
      .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name))
      .slice(0, options.largest ?? 10),
    externalData,
    warnings,
  };
}

/** Reads a model file and computes its report. */
export async function inspectModel(path: string, options: { largest?: number } = {}): Promise<InspectReport> {
  return inspectLoadedModel(readModel(path), options);
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit]}`;
}

function formatShape(shape: ValueSummary['shape']): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** Human-readable text for the terminal. */
export function formatInspectReport(report: InspectReport): string {
  const lines: string[] = [];
  lines.push(`${report.path}`);
  lines.push(`  size        ${formatBytes(report.bytes)} (${report.bytes} bytes)  sha256 ${report.sha256}`);
  lines.push(
    `  IR version  ${report.irVersion}   producer ${report.producer.name} ${report.producer.version}`.trimEnd(),
  );
  lines.push(`  opsets      ${report.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`);
  lines.push(
    `  parameters  ${report.parameters.toLocaleString('en-US')} in ${report.initializerCount} initializers`,
  );
  lines.push('inputs');
  for (const v of report.inputs) lines.push(`  ${v.name}  ${v.type} ${formatShape(v.shape)}`);
  lines.push('outputs');
  for (const v of report.outputs) lines.push(`  ${v.name}  ${v.type} ${formatShape(v.shape)}`);
  lines.push('bytes by dtype');
  for (const d of report.bytesByDtype) {
    lines.push(
      `  ${d.dtype.padEnd(10)} ${formatBytes(d.bytes).padStart(10)}  ${d.elements.toLocaleString('en-US')} elements in ${d.tensors} tensors`,
    );
  }
  lines.push(
    `ops (${report.nodeCount} nodes${report.subgraphCount ? `, ${report.subgraphCount} subgraphs` : ''})`,
  );
  lines.push(`  ${report.opHistogram.map((o) => `${o.op}×${o.count}`).join(', ')}`);
  if (report.functions.length) {
    lines.push('functions');
    for (const f of report.functions) lines.push(`  ${f.domain}.${f.name} (${f.nodes} nodes)`);
  }
  lines.push('largest tensors');
  for (const t of report.largestTensors) {
    lines.push(`  ${t.name}  ${t.dtype} [${t.dims.join(', ')}]  ${formatBytes(t.bytes)}  ${t.storage}`);
  }
  if (report.externalData.length) {
    lines.push('external data');
    for (const f of report.externalData) {
      lines.push(`  ${f.location}  ${formatBytes(f.bytes)}, ${f.tensors} tensors  sha256 ${f.sha256}`);
    }
  }
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
