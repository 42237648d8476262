"""The letter study: letter data, the classifier that measures coverage, the GAN registry, training and report."""
