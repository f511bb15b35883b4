"""The benchmark driver behind ``mlp bench``: it uses mlp's public API only, as a user would.

``study``: epoch cost per backend beside the GEMM-only epoch and the peers; ``streamed``: epoch cost
in n with the data read from disk; ``peers``: the epochs we are measured against; ``timing``: clocks,
medians, spreads, fits; ``report``: markdown and plots; ``run``: ``mlp bench`` from its flags.
"""

from mlp.bench.run import run_bench
from mlp.bench.study import run_study

__all__ = ["run_bench", "run_study"]
