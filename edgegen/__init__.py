"""edgegen: small generative models trained in PyTorch and run on a laptop CPU with onnxruntime.

The import package is split by dependency: ``runtime`` and ``cli`` need only
numpy, onnxruntime, click, pillow and mido; ``training`` and ``export`` need
torch and are imported lazily by the commands that train or export.
"""

__version__ = "0.1.0"
