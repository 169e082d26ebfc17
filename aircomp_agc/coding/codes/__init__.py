"""Built-in code constructions; importing this package registers them all.

One module per construction family:

- :mod:`.frc` -- fractional repetition (exact) and approximate FRC (replication d < s+1);
- :mod:`.cyclic` -- Tandon et al.'s random cyclic repetition code and a deterministic
  cyclic construction;
- :mod:`.random_sparse` -- the source text's signed sparse code and Bernoulli codes (BGC);
- :mod:`.graph` -- codes from random d-regular graphs;
- :mod:`.sgc` -- stochastic gradient coding;
- :mod:`.bibd` -- symmetric designs (projective planes): error independent of who straggles;
- :mod:`.uncoded` -- the uncoded baseline.
"""

from . import bibd, cyclic, frc, graph, random_sparse, sgc, uncoded  # noqa: F401
