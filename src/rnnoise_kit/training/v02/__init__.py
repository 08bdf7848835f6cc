"""RNNoise 0.2 series training: its data layout, generator and trainer (spec ``rnnoise-v0.2.md``
sections 9-12). What 0.2 shares with v0.1 training is imported from :mod:`rnnoise_kit.training`.
"""
