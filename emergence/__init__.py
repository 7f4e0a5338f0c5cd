"""emergence: runnable experiments on abilities that appear abruptly during training.

Rooms (data flows one way): tasks -> models -> train (+ measures) -> experiments -> notebook / CLI.
"""

__version__ = "0.1.0"
