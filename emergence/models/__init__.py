"""Small PyTorch models whose weights carry a leading ensemble dimension E.

Every model here is E independent models trained as one: weights have shape (E, ...),
inputs (E, N, ...) and matrix products are `torch.bmm`, so E seeds or hyperparameters
cost one kernel launch instead of E.  E = 1 is the ordinary single model.
"""

from emergence.models.ensemble import EnsembleModule, member_generators, member_of
from emergence.models.linear import DeepLinear, HomogeneousMLP
from emergence.models.lora import LowRankAdapter, SteeringVector
from emergence.models.mlp import ModularMLP, SinNeuron, TwoLayerMLP
from emergence.models.persona_mlp import PersonaMLP
from emergence.models.transformer import Transformer, TransformerConfig
from emergence.models.width_mlp import WidthMLP

__all__ = ["EnsembleModule", "member_generators", "member_of", "PersonaMLP", "ModularMLP", "SinNeuron", "TwoLayerMLP", "Transformer", "TransformerConfig",
           "DeepLinear", "HomogeneousMLP", "WidthMLP",
           "LowRankAdapter", "SteeringVector"]
