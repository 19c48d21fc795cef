"""Makes onnxruntime's own int8 and int4 variants of a model (for benchmarks only; CI never runs this)."""
import sys

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

source, kind, target = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "int8":
    quantize_dynamic(source, target, weight_type=QuantType.QInt8)
elif kind == "int4":
    quantizer = MatMulNBitsQuantizer(onnx.load(source), block_size=32, is_symmetric=True)
    quantizer.process()
    quantizer.model.save_model_to_file(target, False)
else:
    raise SystemExit(f"unknown kind {kind}")
