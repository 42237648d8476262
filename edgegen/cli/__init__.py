"""The `fontgen` and `drumgen` commands (torch-free)."""
import os

# The math runs in onnxruntime; numpy's OpenBLAS would start one thread per core at import
# (~50 ms of CPU, more on a busy machine) for nothing. Set here, before any command module can
# load numpy; a user's value wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
