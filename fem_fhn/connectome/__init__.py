"""Connectome coupling with conduction delays, and region and sensor output.

- `data`: readers and validation (TVB connectivity zips, .npy/.csv matrices, labels, projections);
- `coupling`: the region means and the delayed coupling term G Σ_l W_kl (V̄_l(t − d_kl) − V̄_k(t));
- `output`: regions.csv and sensors.csv observers;
- `config`: the [connectome] table.
"""

from fem_fhn.connectome.coupling import (
    DELAY_SCHEMES,
    ConnectomeCoupling,
    RegionMeans,
    check_scheme,
    coupling_rate,
)
from fem_fhn.connectome.data import (
    Connectome,
    check_labels,
    read_connectome,
    read_labels,
    read_matrix,
    read_projection,
    read_tvb_zip,
)

__all__ = [
    "DELAY_SCHEMES",
    "Connectome",
    "ConnectomeCoupling",
    "RegionMeans",
    "check_labels",
    "check_scheme",
    "coupling_rate",
    "read_connectome",
    "read_labels",
    "read_matrix",
    "read_projection",
    "read_tvb_zip",
]
