"""Progress measures: plain functions of (weights or model, data).  Nothing here trains."""

from emergence.measures.fourier import (fourier_basis, frequency_norms, gini, key_frequencies,
                                        neuron_frequency_concentration,
                                        restricted_and_excluded_loss)
from emergence.measures.norms import coordinate_movement, weight_distance, weight_norm
from emergence.measures.transitions import first_crossing, fraction_point, lag, w10_90, x50

__all__ = ["fourier_basis", "frequency_norms", "gini", "key_frequencies",
           "neuron_frequency_concentration", "restricted_and_excluded_loss", "coordinate_movement", "weight_distance", "weight_norm",
           "first_crossing", "fraction_point", "lag", "w10_90", "x50"]
