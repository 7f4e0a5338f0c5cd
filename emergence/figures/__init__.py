"""The book's figures: one module per chapter, named like its experiment module, and `common`,
the house style and the helpers several chapters share.

A figure reads a finished run (`run.summary`, `run.history`); it never trains or measures.
Figures import from experiments and measures, never the reverse, so a run's cache key
(emergence.cache) does not change when a figure does.

    from emergence import figures
    figures.common.use_style()
    fig = figures.grokking.plot_llc(run)
"""

from emergence.figures import common
from emergence.figures import emergent_misalignment, grokking, induction_heads, llc_validation, mirage, scaling_laws
from emergence.figures import ghost_points, icl_competition, see_it_coming, silent_alignment, sparse_parity

__all__ = ["common", "emergent_misalignment", "ghost_points", "icl_competition", "grokking", "induction_heads", "llc_validation", "mirage", "scaling_laws",
           "see_it_coming", "silent_alignment", "sparse_parity"]
