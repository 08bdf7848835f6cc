"""RNNoise 0.2-series models (librnnoise 0.2, pyrnnoise): weight records and their files.

The 0.2 series stores a model as named weight arrays (spec rnnoise-v0.2 section 8): a blob
of 64-byte-headed records that ``rnnoise_model_from_file`` / ``rnnoise_model_from_buffer``
load, or the same arrays compiled into ``rnnoise_data.c``.

* :mod:`.blob`: the records (:class:`WeightRecord`) and the blob byte layout;
* :mod:`.model`: :class:`RNNoise02Model`, the arrays validated as ``init_rnnoise`` does,
  with one :class:`LinearLayer` per layer (what upstream's ``linear_init`` fills in);
* :mod:`.files`: ``.bin`` and ``rnnoise_data.c``/``.h`` readers and writers;
* :mod:`.library`: the built-in model of a librnnoise shared library (``rnnoise_arrays``);
* :mod:`.network`: runs a model's network (:class:`Network02`, float32-exact to the plain C
  build).

>>> from rnnoise_kit.model import load_model              # doctest: +SKIP
>>> m = load_model("rnnoise-0.2.bin")                      # doctest: +SKIP
>>> m.description, m.gru_size, m.precision                 # doctest: +SKIP
('RNNoise 0.2 (main-branch network, skip heads)', 384, 'float')
"""

from rnnoise_kit.model.v02.blob import (
    BLOB_MAGIC,
    RECORD_HEADER_SIZE,
    WeightRecord,
    WeightType,
    format_blob,
    parse_blob,
)
from rnnoise_kit.model.v02.files import (
    format_c02,
    format_h02,
    parse_c02,
    read_blob,
    read_c02,
    write_blob,
    write_c02,
)
from rnnoise_kit.model.v02.library import library_records, pyrnnoise_library, read_library
from rnnoise_kit.model.v02.model import (
    GAIN_SIZE,
    INPUT_SIZE,
    LAYER_NAMES,
    SKIP_HEADS,
    SPARSE_BLOCK,
    TAG_HEADS,
    LayerSpec,
    LinearLayer,
    RNNoise02Model,
    canonical_order,
    linear_records,
    model_from_float_layers,
    random_model,
)
from rnnoise_kit.model.v02.network import (
    Network02,
    NetworkLayers02,
    NetworkState02,
    layers_from_arrays,
)

__all__ = [
    "BLOB_MAGIC",
    "GAIN_SIZE",
    "INPUT_SIZE",
    "LAYER_NAMES",
    "LayerSpec",
    "LinearLayer",
    "Network02",
    "NetworkLayers02",
    "NetworkState02",
    "RECORD_HEADER_SIZE",
    "RNNoise02Model",
    "SKIP_HEADS",
    "SPARSE_BLOCK",
    "TAG_HEADS",
    "WeightRecord",
    "WeightType",
    "canonical_order",
    "linear_records",
    "model_from_float_layers",
    "random_model",
    "format_blob",
    "format_c02",
    "format_h02",
    "layers_from_arrays",
    "library_records",
    "parse_blob",
    "parse_c02",
    "pyrnnoise_library",
    "read_blob",
    "read_c02",
    "read_library",
    "write_blob",
    "write_c02",
]
