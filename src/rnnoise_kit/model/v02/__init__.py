"""RNNoise 0.2-series models (librnnoise 0.2, pyrnnoise): weight records and their files.

The 0.2 series stores a model as named weight arrays (spec rnnoise-v0.2 section 8): a blob
of 64-byte-headed records that ``rnnoise_model_from_file`` / ``rnnoise_model_from_buffer``
load, or the same arrays compiled into ``rnnoise_data.c``. :mod:`.blob` reads and writes the
records; everything else (validation, C files, the network) builds on
:class:`~rnnoise_kit.model.v02.blob.WeightRecord`. :mod:`.network` runs the network
(:class:`Network02`, float32-exact to the plain C build) from the named arrays.
"""

from rnnoise_kit.model.v02.blob import (
    BLOB_MAGIC,
    RECORD_HEADER_SIZE,
    WeightRecord,
    WeightType,
    format_blob,
    parse_blob,
)
from rnnoise_kit.model.v02.network import (
    LinearLayer02,
    Network02,
    NetworkLayers02,
    NetworkState02,
    layers_from_arrays,
)

__all__ = [
    "BLOB_MAGIC",
    "LinearLayer02",
    "Network02",
    "NetworkLayers02",
    "NetworkState02",
    "RECORD_HEADER_SIZE",
    "WeightRecord",
    "WeightType",
    "format_blob",
    "layers_from_arrays",
    "parse_blob",
]
