"""0.2 weight blob records: the pyrnnoise blob splits into its 50 records and joins back
byte for byte; malformed headers are one-line ModelFormatErrors naming the record."""

import struct

import pytest

from rnnoise_kit.errors import ModelFormatError
from rnnoise_kit.model.v02.blob import WeightType, format_blob, parse_blob


@pytest.fixture(scope="module")
def blob(reference) -> bytes:
    return (reference / "v0.2" / "pyrnnoise-0.4.5-weights.bin").read_bytes()


def test_pyrnnoise_blob_round_trip(blob):
    records = parse_blob(blob)
    assert len(records) == 50
    assert records[0].name == "conv1_weights_float"
    assert records[-1].name == "vad_dense_bias"
    assert {r.type for r in records} == {WeightType.FLOAT, WeightType.INT, WeightType.INT8}
    assert format_blob(records) == blob


@pytest.mark.parametrize(
    "offset, value, fmt, problem",
    [
        (0, b"DNNx", "4s", "magic"),
        (4, 1, "<i", "version"),
        (8, 7, "<i", "unknown weight type"),
        (12, 0, "<i", "must be positive"),
        (16, 65, "<i", "block size"),
    ],
)
def test_bad_header_fields(blob, offset, value, fmt, problem):
    bad = bytearray(blob)
    struct.pack_into(fmt, bad, offset, value)
    with pytest.raises(ModelFormatError, match=problem) as err:
        parse_blob(bytes(bad), "m.bin")
    assert "m.bin" in str(err.value) and "\n" not in str(err.value)


def test_truncated_payload_names_the_array(blob):
    with pytest.raises(ModelFormatError, match=r"conv2_weights_int8.*truncated"):
        parse_blob(blob[:64 * 3 + 24960 * 4 + 128 * 4 + 100], "m.bin")
