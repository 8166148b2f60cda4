"""Cutout's shared package: everything the Lambda functions have in common (the layer's content)."""
