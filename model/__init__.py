"""The diffusion lifter: 2D keypoints -> 3D human pose with a Gaussian-mixture diffusion prior.

Pure PyTorch, numpy and scikit-learn; never imports `study`, Ray, Optuna, Typer or Rich.
"""
