"""The drum study: the Groove MIDI corpus, the hierarchical VAE, the style classifier, analysis and report."""
