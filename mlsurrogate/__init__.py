"""Feed-forward surrogates for lfqcd observables; tensor- and phantom-parallel training."""
