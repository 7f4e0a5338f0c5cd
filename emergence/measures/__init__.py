"""Progress measures: plain functions of (weights or model, data).  Nothing here trains."""

from emergence.measures.adapters import (comp_score, local_cosine_similarity, orthogonal_perturbation,
                                         relative_loss_increase, trajectory_pca)
from emergence.measures.attention import (ablate_head, icl_score, masked_mean, ov_copying_score,
                                          per_position_loss, prefix_matching_score,
                                          previous_token_score)
from emergence.measures.fourier import (fourier_basis, frequency_norms, gini, key_frequencies,
                                        neuron_frequency_concentration,
                                        restricted_and_excluded_loss)
from emergence.measures.kernels import (empirical_ntk, ensemble_ntk, kernel_alignment, kernel_norm,
                                        kernel_regression, prediction_agreement)
from emergence.measures.llc import (LLCResult, LLCWarning, estimate_llc, llc_over_training, llc_trajectory, model_loss,
                                    stack_params)
from emergence.measures.norms import coordinate_movement, weight_distance, weight_norm
from emergence.measures.transitions import (fastest_fall, first_crossing, fraction_point, lag, plateau_then_drop,
                                            spearman, stable_before, w10_90, x50)

__all__ = ["comp_score", "local_cosine_similarity", "orthogonal_perturbation", "relative_loss_increase",
           "trajectory_pca", "ablate_head", "icl_score", "masked_mean", "ov_copying_score", "per_position_loss",
           "prefix_matching_score", "previous_token_score",
           "fourier_basis", "frequency_norms", "gini", "key_frequencies",
           "neuron_frequency_concentration", "restricted_and_excluded_loss", "coordinate_movement", "weight_distance", "weight_norm",
           "fastest_fall", "first_crossing", "fraction_point", "plateau_then_drop", "spearman", "stable_before", "lag",
           "w10_90", "x50",
           "empirical_ntk", "ensemble_ntk", "kernel_alignment", "kernel_norm", "kernel_regression",
           "prediction_agreement", "LLCResult", "LLCWarning", "estimate_llc", "llc_over_training", "llc_trajectory", "model_loss", "stack_params"]
