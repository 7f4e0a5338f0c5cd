"""emergence: runnable experiments on abilities that appear abruptly during training.

Rooms (data flows one way; README.md, Layout): tasks -> models -> train, measures -> config, run,
cache -> experiments -> figures -> notebook, CLI.
"""

__version__ = "0.1.0"
