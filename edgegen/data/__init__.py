"""Data that ships with the package: the derived Groove MIDI drum corpus and its attribution."""
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
