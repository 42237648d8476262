"""Torch-free runtime: onnxruntime sessions, generators, MIDI files and live playback."""
