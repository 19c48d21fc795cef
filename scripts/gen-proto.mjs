// Regenerates src/onnx/onnx-proto.json from src/onnx/onnx.proto (copied from the onnx Python package 1.23.1).
// Run after updating onnx.proto: node scripts/gen-proto.mjs
import { writeFileSync } from 'node:fs';
import protobuf from 'protobufjs';

const root = protobuf.loadSync(new URL('../src/onnx/onnx.proto', import.meta.url).pathname);
writeFileSync(
  new URL('../src/onnx/onnx-proto.json', import.meta.url),
  `${JSON.stringify(root.toJSON({ keepComments: false }))}\n`,
);
