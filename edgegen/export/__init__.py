"""torch -> ONNX export with JSON sidecars and parity checks (needs torch and onnx)."""
