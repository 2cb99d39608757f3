"""TFLite reader (convert.tflite_ir) and op table (convert.ops): round trips against LiteRT, MAC
counts against hand counts, builtin-code resolution, out-of-flatbuffer buffers, error paths, fuzzing."""

from __future__ import annotations

import copy
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convert.ops import OP_TABLE, check_model, op_cost
from convert.tflite_ir import BUILTIN_OPS, read_tflite, schema
from tests.shared_models import KWS_MODEL
from train.errors import ConversionError, DataError

KWS = KWS_MODEL
if not KWS.exists():  # the repo copy, if the shared one is not mounted
    KWS = Path(__file__).resolve().parents[1] / "shared" / "models" / "kws_ref_model.tflite"

CONV_SHAPE = (12, 10, 3)
MISC_SHAPE = (8, 6, 4)
# Hand count for the conv model below (TFLite convention, batch 1):
#   conv 3x3 same  12x10x8 out, 3 in:  12*10*8 * 3*3*3 = 25,920
#   depthwise 3x3 stride 2 valid:      5*4*8 * 3*3     =  1,440
#   conv 1x1 -> 6:                     5*4*6 * 8       =    960
#   max pool 2 -> 2x2x6, flatten 24, dense 5:  24*5    =    120
CONV_MACS = [25_920, 1_440, 960, 0, 0, 120, 0]


def _convert(model, shape, *, quantize: bool = True) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        rng = np.random.default_rng(0)

        def rep():
            for _ in range(8):
                yield [rng.standard_normal((1, *shape)).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def build_test_models() -> dict[str, bytes]:
    """Small Keras models converted to TFLite: int8 'conv' and 'misc' (every op family of the table),
    'float' (no quantization) and 'leaky' (LEAKY_RELU, outside the op table)."""
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    out = {}

    x = tf.keras.Input(CONV_SHAPE, batch_size=1)
    y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu6")(y)
    y = L.Conv2D(6, 1)(y)
    y = L.MaxPooling2D(2)(y)
    y = L.Flatten()(y)
    y = L.Dense(5)(y)
    y = L.Softmax()(y)
    conv_model = tf.keras.Model(x, y)
    out["conv"] = _convert(conv_model, CONV_SHAPE)
    out["float"] = _convert(conv_model, CONV_SHAPE, quantize=False)

    x = tf.keras.Input(MISC_SHAPE, batch_size=1)
    a = L.Conv2D(4, 3, padding="same")(x)
    s = L.Multiply()([L.Add()([a, x]), a])
    p = L.AveragePooling2D(2)(L.ZeroPadding2D(1)(s))
    sl = p[:, 1:, :, :]
    c = L.Concatenate()([L.Activation("sigmoid")(sl), L.Activation("tanh")(sl)])
    r = L.ReLU()(L.Reshape((2, 4))(L.GlobalAveragePooling2D()(c)))
    out["misc"] = _convert(tf.keras.Model(x, r), MISC_SHAPE)

    x = tf.keras.Input((6, 4), batch_size=1)
    out["leaky"] = _convert(tf.keras.Model(x, L.LeakyReLU(0.2)(L.Dense(4)(x))), (6, 4))
    return out


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    return build_test_models()


def _repack(model_t) -> bytes:
    b = flatbuffers.Builder(0)
    b.Finish(model_t.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _unpack(data: bytes):
    return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)


# ---- round trip against LiteRT -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["conv", "misc"])
def test_reader_matches_litert(models, name):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    data = models[name]
    m = read_tflite(data)
    interp = Interpreter(
        model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interp.allocate_tensors()

    assert [op.name for op in m.operators] == [d["op_name"] for d in interp._get_ops_details()]
    for op, d in zip(m.operators, interp._get_ops_details(), strict=True):
        assert list(op.inputs) == d["inputs"].tolist()
        assert list(op.outputs) == d["outputs"].tolist()

    # LiteRT appends its own scratch tensors (e.g. im2col) after the model's tensors.
    details = [d for d in interp.get_tensor_details() if d["index"] < len(m.tensors)]
    assert sorted(d["index"] for d in details) == list(range(len(m.tensors)))
    n_const = 0
    for d in details:
        t = m.tensors[d["index"]]
        assert t.name == d["name"]
        assert list(t.shape) == d["shape"].tolist()
        assert list(t.shape_signature or t.shape) == d["shape_signature"].tolist()
        assert t.dtype == np.dtype(d["dtype"])
        qp = d["quantization_parameters"]
        q = t.quantization
        scales = np.zeros(0, np.float32) if q is None else q.scale
        zps = np.zeros(0, np.int64) if q is None else q.zero_point
        np.testing.assert_array_equal(scales, qp["scales"])
        np.testing.assert_array_equal(zps, qp["zero_points"])
        if q is not None:
            assert q.quantized_dimension == qp["quantized_dimension"]
        if t.is_constant:
            n_const += 1
            ref = interp.get_tensor(d["index"])
            assert t.data.dtype == ref.dtype and t.data.shape == ref.shape
            np.testing.assert_array_equal(t.data, ref)
            assert not t.data.flags.writeable
    assert n_const >= 6
    assert [m.tensors[i].name for i in m.inputs] == [d["name"] for d in interp.get_input_details()]
    assert [m.tensors[i].name for i in m.outputs] == [d["name"] for d in interp.get_output_details()]


def test_per_channel_quantization_and_options(models):
    m = read_tflite(models["conv"])
    conv, dw, pw, pool, _, fc, _ = m.operators
    w = m.tensors[conv.inputs[1]]
    assert w.type_name == "INT8" and w.quantization.per_channel
    assert w.quantization.scale.shape == (8,) and w.quantization.quantized_dimension == 0
    assert np.all(w.quantization.zero_point == 0)
    dww = m.tensors[dw.inputs[1]]
    assert dww.quantization.quantized_dimension == 3 and dww.quantization.scale.shape == (8,)
    assert m.tensors[conv.inputs[2]].type_name == "INT32"

    assert conv.options_type == "Conv2DOptions"
    assert conv.options["padding"] == "SAME"
    assert conv.options["fused_activation_function"] == "RELU"
    assert (conv.options["stride_h"], conv.options["stride_w"]) == (1, 1)
    assert conv.options["dilation_h_factor"] == 1
    assert dw.options["padding"] == "VALID"
    assert dw.options["fused_activation_function"] == "RELU6"
    assert (dw.options["stride_h"], dw.options["stride_w"]) == (2, 2)
    assert dw.options["depth_multiplier"] == 1
    assert pw.options["fused_activation_function"] == "NONE"
    assert (pool.options["filter_height"], pool.options["filter_width"]) == (2, 2)
    assert fc.options["keep_num_dims"] is False
    assert fc.options["weights_format"] == "DEFAULT"


# ---- MAC accounting -------------------------------------------------------------------------------


def test_macs_equal_hand_count(models):
    m = read_tflite(models["conv"])
    costs = [op_cost(m.main, op) for op in m.operators]
    assert [c.macs for c in costs] == CONV_MACS
    # params: conv 8*27+8, dw 9*8+8, pw 6*8+6, fc 5*24 (+ bias if present)
    fc_bias = m.operators[5].inputs[2] if len(m.operators[5].inputs) > 2 else -1
    assert [c.params for c in costs][:3] == [224, 80, 54]
    assert costs[5].params == 120 + (5 if fc_bias >= 0 else 0)
    assert costs[0].weight_bytes == 216 + 8 * 4  # int8 filter + int32 bias

    misc = read_tflite(models["misc"])
    assert sum(op_cost(misc.main, op).macs for op in misc.operators) == 8 * 6 * 4 * 3 * 3 * 4
    assert {op.name for op in misc.operators} >= {
        "ADD", "MUL", "PAD", "AVERAGE_POOL_2D", "STRIDED_SLICE", "LOGISTIC", "TANH",
        "CONCATENATION", "MEAN", "RESHAPE", "RELU",
    }  # fmt: skip


def test_kws_reference_model_macs():
    m = read_tflite(KWS)
    assert [op.name for op in m.operators] == (
        ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4
        + ["AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    )  # fmt: skip
    assert sum(op_cost(m.main, op).macs for op in m.operators) == 2_656_768
    check_model(m)


def test_op_table_covers_the_brief():
    needed = {
        "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
        "MEAN", "RESHAPE", "SOFTMAX", "LOGISTIC", "TANH", "CONCATENATION", "PAD", "STRIDED_SLICE",
        "QUANTIZE", "DEQUANTIZE",
    }  # fmt: skip
    assert needed <= set(OP_TABLE)
    assert all(OP_TABLE[n].kernel.startswith("nb_") for n in OP_TABLE)
    assert set(OP_TABLE) <= set(BUILTIN_OPS.values())


# ---- schema corners -------------------------------------------------------------------------------


def test_builtin_code_resolution():
    """op code = max(builtin_code, deprecated_builtin_code), as TFLite's schema_utils does."""
    data = KWS.read_bytes()
    names = read_tflite(data).op_names()
    mt = _unpack(data)
    assert all(oc.builtinCode == 0 for oc in mt.operatorCodes)  # old-style file: only deprecated codes
    codes = [oc.deprecatedBuiltinCode for oc in mt.operatorCodes]

    new_style = copy.deepcopy(mt)
    for oc, code in zip(new_style.operatorCodes, codes, strict=True):
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = code
    assert read_tflite(_repack(new_style)).op_names() == names

    # Codes above 127 live only in builtin_code, with the deprecated field at the placeholder 127.
    big = copy.deepcopy(mt)
    big.operatorCodes[-1].builtinCode = schema.BuiltinOperator.GELU  # 150
    big.operatorCodes[-1].deprecatedBuiltinCode = 127
    got = read_tflite(_repack(big))
    soft_ops = [op for op in got.operators if op.opcode_index == len(codes) - 1]
    assert soft_ops and all(op.name == "GELU" for op in soft_ops)
    with pytest.raises(ConversionError, match="unsupported op GELU"):
        check_model(got)


def test_buffers_stored_after_the_flatbuffer(tmp_path):
    """Buffer.offset/size (the >2 GB layout): data lives after the flatbuffer, found by file offset."""
    data = KWS.read_bytes()
    ref = read_tflite(data)
    mt = _unpack(data)
    blobs = {}
    for i, b in enumerate(mt.buffers):
        if b.data is not None and len(b.data):
            blobs[i] = bytes(np.asarray(b.data, dtype=np.uint8))
            b.data, b.offset, b.size = None, 2, len(blobs[i])  # placeholders fix the layout
    head = _repack(mt)
    pos = (len(head) + 15) // 16 * 16
    for i, blob in blobs.items():
        mt.buffers[i].offset = pos
        pos = (pos + len(blob) + 15) // 16 * 16
    head = _repack(mt)
    assert len(head) <= min(b.offset for b in mt.buffers if b.offset > 1)
    out = bytearray(head)
    for i, blob in blobs.items():
        out.extend(b"\0" * (mt.buffers[i].offset - len(out)))
        out.extend(blob)
    path = tmp_path / "offsets.tflite"
    path.write_bytes(bytes(out))

    got = read_tflite(path)
    assert len(blobs) >= 20
    for a, b in zip(ref.tensors, got.tensors, strict=True):
        assert (a.data is None) == (b.data is None)
        if a.data is not None:
            np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(DataError, match=r"beyond the end of the file.*truncated"):
        read_tflite(bytes(out[: len(out) - 100]))


def test_external_buffer_groups_and_int4(tmp_path):
    """Tensor.external_buffer -> ExternalBuffer(group file next to the model, offset, length);
    INT4 constants are unpacked from two nibbles per byte (low nibble first)."""
    data = KWS.read_bytes()
    ref = read_tflite(data)
    mt = _unpack(data)
    sg = mt.subgraphs[0]
    fc = ref.operators[11]
    wi = fc.inputs[1]  # FC weights [12, 64] int8
    side = b"pad!" + ref.tensors[wi].data.tobytes()
    (tmp_path / "side.bin").write_bytes(side)
    grp = schema.ExternalBufferGroupT()
    grp.name = b"side.bin"
    eb = schema.ExternalBufferT()
    eb.id, eb.group, eb.offset, eb.length = 7, 0, 4, len(side) - 4
    mt.externalBufferGroups, mt.externalBuffers = [grp], [eb]
    sg.tensors[wi].externalBuffer = 7
    sg.tensors[wi].buffer = 0

    # INT4: a [2, 3] constant with values -8..7 packed into 3 bytes.
    vals = np.array([[-8, 7, 0], [1, -1, 5]], np.int8)
    flat = (vals.reshape(-1) & 0x0F).astype(np.uint8)
    packed = flat[0::2] | (flat[1::2] << 4)
    buf = schema.BufferT()
    buf.data = packed.tolist()
    mt.buffers.append(buf)
    t4 = schema.TensorT()
    t4.shape, t4.type, t4.buffer, t4.name = [2, 3], schema.TensorType.INT4, len(mt.buffers) - 1, b"int4"
    sg.tensors.append(t4)

    path = tmp_path / "ext.tflite"
    path.write_bytes(_repack(mt))
    got = read_tflite(path)
    np.testing.assert_array_equal(got.tensors[wi].data, ref.tensors[wi].data)
    assert got.tensors[wi].external_buffer == 7
    assert got.tensors[-1].type_name == "INT4"
    np.testing.assert_array_equal(got.tensors[-1].data, vals)
    assert got.tensors[-1].nbytes == 3
    with pytest.raises(DataError, match="read the model from its path"):
        read_tflite(path.read_bytes())
    (tmp_path / "side.bin").write_bytes(side[:100])
    with pytest.raises(DataError, match=r"external data file .*side\.bin is truncated"):
        read_tflite(path)


def test_multiple_subgraphs_are_reported():
    mt = _unpack(KWS.read_bytes())
    second = copy.deepcopy(mt.subgraphs[0])
    second.name = b"second"
    mt.subgraphs.append(second)
    m = read_tflite(_repack(mt))
    assert len(m.subgraphs) == 2 and m.subgraphs[1].name == "second"
    assert len(m.subgraphs[1].operators) == 13
    assert m.operators is m.subgraphs[0].operators
    total = sum(op_cost(sg, op).macs for sg in m.subgraphs for op in sg.operators)
    assert total == 2 * 2_656_768


# ---- errors ---------------------------------------------------------------------------------------


def test_float_and_unsupported_models_are_rejected(models):
    with pytest.raises(ConversionError, match=r"op 0 CONV_2D: input 0 .* is FLOAT32, int8 required"):
        check_model(read_tflite(models["float"]))
    check_model(read_tflite(models["float"]), require_int8=False)  # float is fine when not required
    with pytest.raises(ConversionError, match=r"op 1 LEAKY_RELU: unsupported op LEAKY_RELU"):
        check_model(read_tflite(models["leaky"]))


def test_bad_files_raise_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_tflite(tmp_path / "missing.tflite")
    with pytest.raises(DataError, match="is a directory"):
        read_tflite(tmp_path)
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.tflite: not a TFLite flatbuffer"):
        read_tflite(empty)
    rnd = tmp_path / "random.tflite"
    rnd.write_bytes(np.random.default_rng(1).bytes(4000))
    with pytest.raises(DataError, match=r"random\.tflite: not a TFLite flatbuffer: file identifier"):
        read_tflite(rnd)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(KWS.read_bytes()[:3000])
    with pytest.raises(DataError, match=r"cut\.tflite: .*(corrupt|truncated)"):
        read_tflite(cut)


_KWS_BYTES = KWS.read_bytes()
_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _read_or_our_error(data: bytes) -> None:
    """The whole read -> check -> account path either works or raises one of our errors."""
    try:
        m = read_tflite(data)
    except DataError as e:
        assert "<bytes>" in str(e)
        return
    try:
        check_model(m)
        for sg in m.subgraphs:
            for op in sg.operators:
                c = op_cost(sg, op)
                assert c.macs >= 0 and c.params >= 0
    except (ConversionError, DataError):
        pass


@_FUZZ
@given(st.integers(min_value=0, max_value=len(_KWS_BYTES) - 1))
def test_fuzz_truncated(n):
    # The constant data sits at the end of the flatbuffer and the root table at the start, so every
    # proper prefix misses something the root points to: it must be reported, never half-read.
    with pytest.raises(DataError, match=r"<bytes>: .*(truncated|not a TFLite)"):
        read_tflite(_KWS_BYTES[:n])


@_FUZZ
@given(st.lists(st.tuples(st.integers(0, len(_KWS_BYTES) - 1), st.integers(0, 255)), min_size=1, max_size=12))
def test_fuzz_corrupted_bytes(edits):
    data = bytearray(_KWS_BYTES)
    for pos, val in edits:
        data[pos] = val
    _read_or_our_error(bytes(data))


@_FUZZ
@given(st.binary(min_size=0, max_size=2048))
def test_fuzz_random_bytes_with_identifier(tail):
    _read_or_our_error(tail[:4] + b"TFL3" + tail[4:])
    _read_or_our_error(tail)
