"""The letter-image format every part of edgegen shares (DESIGN section 3.1).

A letter is a float32 image [IMAGE_SIZE, IMAGE_SIZE] in [0, 1] with ink = 1.0 on a
0.0 background; classes are the capitals A-Z in alphabetical order (index 0 = "A").
"""
from __future__ import annotations

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
N_LETTERS = len(LETTERS)
IMAGE_SIZE = 28

DEFAULT_LIKE_LETTERS = "HAMBURGEFONTS"
"""Letters compared when matching a user's font: a type designer's test word, most of the capitals' shapes."""
