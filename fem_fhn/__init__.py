"""fem_fhn — FitzHugh–Nagumo dynamics from a single neuron to nonlocal reaction–diffusion."""
