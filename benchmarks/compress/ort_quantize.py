"""ONNX Runtime's own Python tools, as the compress benchmark compares slmops against them.

usage: python3 ort_quantize.py <int8|int8-per-channel|int4|fp16> <input.onnx> <output.onnx> [external]

Prints one JSON line: {"seconds": <load + quantize + save>, "maxRssKb": <peak RSS of this process>, "bytes": <output
.onnx plus its external data, if any>}. "external" writes the output with external data (model.onnx.data).
"""
import json
import os
import resource
import sys
import time


def main() -> None:
    mode, src, dst = sys.argv[1:4]
    external = len(sys.argv) > 4 and sys.argv[4] == "external"
    import onnx

    started = time.perf_counter()
    if mode in ("int8", "int8-per-channel"):
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            src,
            dst,
            weight_type=QuantType.QInt8,
            per_channel=mode == "int8-per-channel",
            use_external_data_format=external,
        )
    elif mode == "int4":
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(src, bits=4, block_size=32, is_symmetric=True)
        quantizer.process()
        quantizer.model.save_model_to_file(dst, external)
    elif mode == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(src), keep_io_types=True)
        if external:
            onnx.save_model(model, dst, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=os.path.basename(dst) + ".data")
        else:
            onnx.save_model(model, dst)
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - started
    data = dst + ".data"
    size = os.path.getsize(dst) + (os.path.getsize(data) if os.path.exists(data) else 0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "maxRssKb": rss, "bytes": size}))


if __name__ == "__main__":
    main()
