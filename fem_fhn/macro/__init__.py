"""Macroscopic models: the nonlocal FHN reaction–diffusion system and its ρ0-weighted form."""

from fem_fhn.macro.nonlocal_rd import MODEL_FORMS, NonlocalFHN, WeightedNonlocalFHN
from fem_fhn.macro.stimulus import Stimulus

__all__ = ["MODEL_FORMS", "NonlocalFHN", "Stimulus", "WeightedNonlocalFHN"]
