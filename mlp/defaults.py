"""The defaults of ``mlp.train``, ``mlp.MLP``/``mlp.Sequential`` and ``mlp train``, in one place.

Chosen by ``benchmarks/defaults_study.py`` over 14 datasets (image-like sets with constant and
near-constant features, regression with heavy-tailed and outlying features, 60,000 rows), five seeds
each, beside scikit-learn's defaults, a PyTorch recipe and RealMLP-TD (the README has the table):
robust scaling with smooth clipping and PyTorch's ``nn.Linear`` initialization each paid for
themselves on their own and together; a cosine schedule, standardized regression targets, dropout,
label smoothing, a scale floor, min-max scaling and scikit-learn's batch size min(200, n) did not.

``mlp.sklearn``'s estimators are a drop-in for scikit-learn's and keep scikit-learn's defaults
(hidden_layer_sizes=(100,), Glorot initialization, batch min(200, n), up to 200 iterations, no input
scaling): their results equal scikit-learn's.
"""

from __future__ import annotations

HIDDEN = (256, 256)  # hidden widths of ``mlp train``
ACTIVATION = "relu"
SCALE = "robust"  # ``mlp train``'s input stage: median / IQR, then a smooth clip (RealMLP-TD's robust scaling)
# ``mlp train``: regression targets standardized inside the model (mlp.TargetScale) where there are several
# outputs (their units differ: 3 outputs of scales 1000, 0.001 and 3 went from R² 0.96/-5404/-3.3 to 0.99 each);
# not for one output: over 4 regression sets x 5 seeds it cost diabetes 0.12 R² (0/5 seeds better) and moved
# the others by -0.001..+0.012 (benchmarks/results/target-scale-2026-12-06)
SCALE_TARGETS = "multi-output"
INIT = "torch"  # weights and biases U(±1/√fan_in), PyTorch's nn.Linear
OPTIMIZER = "adam"  # with its own lr 1e-3, as PyTorch's and scikit-learn's
EPOCHS = 30
BATCH_SIZE = 32
