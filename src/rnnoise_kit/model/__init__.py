"""RNNoise v0.1 models: the int8 network, its file formats, and float32-exact inference.

>>> from rnnoise_kit.model import load_model, Network
>>> net = Network(load_model("std.rnnn"))          # doctest: +SKIP
>>> out = net.process(features, silent)             # doctest: +SKIP
>>> out.gains.shape, out.vad.shape                  # doctest: +SKIP
((n, 22), (n,))
"""

from rnnoise_kit.model.core import (
    GRU_LAYERS,
    LAYER_NAMES,
    STANDARD_SIZES,
    Activation,
    Layer,
    RNNoiseModel,
    TopologyError,
    quantize,
    random_model,
)
from rnnoise_kit.model.formats import (
    detect_format,
    format_c,
    format_h,
    format_rnnn,
    load_model,
    parse_c,
    parse_rnnn,
    read_c,
    read_keras,
    read_rnnn,
    save_model,
    write_c,
    write_rnnn,
)
from rnnoise_kit.model.inference import (
    Network,
    NetworkOutput,
    RNNState,
    rnn_frame,
    rnn_sequence,
    run_network,
)

__all__ = [
    "Activation",
    "GRU_LAYERS",
    "LAYER_NAMES",
    "Layer",
    "Network",
    "NetworkOutput",
    "RNNState",
    "RNNoiseModel",
    "STANDARD_SIZES",
    "TopologyError",
    "detect_format",
    "format_c",
    "format_h",
    "format_rnnn",
    "load_model",
    "parse_c",
    "parse_rnnn",
    "quantize",
    "random_model",
    "read_c",
    "read_keras",
    "read_rnnn",
    "rnn_frame",
    "rnn_sequence",
    "run_network",
    "save_model",
    "write_c",
    "write_rnnn",
]
