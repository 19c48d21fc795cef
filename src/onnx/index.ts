/** The ONNX model core: read, write, walk and inspect models. No onnxruntime here. */
export * from './dtypes.ts';
export * from './float16.ts';
export * from './inspect.ts';
export { OnnxModel } from './model.ts';
export * from './proto.ts';
export { parseModelBytes, readModel, resolveExternalData } from './read.ts';
export * from './tensor.ts';
export * from './walk.ts';
export * from './write.ts';
