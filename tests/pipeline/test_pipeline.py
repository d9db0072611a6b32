"""Pipelines over real runtimes (onnxruntime, LiteRT) on the small colour models of tools/build_models.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.pipeline import Classifier, Detector, Segmenter, derive_preprocess, input_layout, match_detections

from ..models.fixtures import build_models

BM = build_models()
COLOURS = BM.PROTOTYPES


def _solid(colour: str, h: int = 48, w: int = 80, seed: int = 0) -> np.ndarray:
    """An HWC uint8 photo of one prototype colour with a little noise."""
    rng = np.random.default_rng(seed)
    rgb = np.array(COLOURS[colour], np.float32) * 255
    img = rgb + rng.normal(0, 6, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _photos(n: int = 18) -> list[np.ndarray]:
    names = list(COLOURS)
    return [_solid(names[i % len(names)], 40 + 4 * i, 90 - 2 * i, seed=i) for i in range(n)]


def _scene(h: int = 200, w: int = 300, box: tuple[int, int, int, int] = (40, 60, 140, 150),
           colour: str = "red") -> np.ndarray:
    """Grey background (class 'other') with one coloured rectangle (x1, y1, x2, y2) in original pixels."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = np.round(np.array(COLOURS["other"]) * 255).astype(np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = np.round(np.array(COLOURS[colour]) * 255).astype(np.uint8)
    return img


# -------------------------------------------------------------------------------------------- derivation
def test_input_layout() -> None:
    assert input_layout(mq.models.TensorSpec("x", ("n", 3, 224, 320), "float32")) == ("nchw", (224, 320))
    assert input_layout(mq.models.TensorSpec("x", (1, 192, 192, 3), "uint8")) == ("nhwc", (192, 192))
    assert input_layout(mq.models.TensorSpec("x", (1, 3, "h", "w"), "float32")) == ("nchw", None)
    with pytest.raises(mq.ShapeError, match="rank-4"):
        input_layout(mq.models.TensorSpec("x", (1, 10), "float32"))
    with pytest.raises(mq.ShapeError, match="no axis of 1 or 3 channels"):
        input_layout(mq.models.TensorSpec("x", (1, 8, 8, 8), "float32"))


def test_derive_from_model_files(model_dir: Path) -> None:
    u8 = derive_preprocess(mq.inspect_model(model_dir / "colour_classifier_u8io.onnx").inputs[0])
    assert (u8["size"], u8["layout"], u8["dtype"]) == ((64, 64), "nchw", "uint8")
    assert u8["quant"] == (float(np.float32(1 / 255)), 0, "uint8")
    tfl = derive_preprocess(mq.inspect_model(model_dir / "colour_classifier_int8.tflite").inputs[0])
    assert (tfl["size"], tfl["layout"], tfl["dtype"]) == ((16, 16), "nhwc", "uint8")
    det = derive_preprocess(mq.inspect_model(model_dir / "colour_detector.onnx").inputs[0], task="detect")
    assert (det["strategy"], det["dtype"], "quant" in det) == ("letterbox", "float32", False)
    over = derive_preprocess(mq.inspect_model(model_dir / "colour_detector.onnx").inputs[0], task="detect",
                             overrides={"strategy": "stretch"})
    assert over["strategy"] == "stretch"
    with pytest.raises(mq.InvalidArgumentError, match="valid values are: classify, detect, segment"):
        derive_preprocess(mq.inspect_model(model_dir / "colour_detector.onnx").inputs[0], task="pose")


def test_dynamic_size_needs_override() -> None:
    spec = mq.models.TensorSpec("x", ("n", 3, "h", "w"), "float32")
    with pytest.raises(mq.InvalidArgumentError, match="dynamic height/width"):
        derive_preprocess(spec)
    assert derive_preprocess(spec, overrides={"size": (32, 32)})["size"] == (32, 32)


# -------------------------------------------------------------------------------------------- classification
@pytest.mark.parametrize(("float_model", "quant_model"), [
    ("colour_classifier.onnx", "colour_classifier.int8.onnx"),
    ("colour_classifier.onnx", "colour_classifier_u8io.onnx"),
    ("colour_classifier_float.tflite", "colour_classifier_int8.tflite"),
])
def test_quantized_classifier_agrees_with_float(model_dir: Path, float_model: str, quant_model: str) -> None:
    labels = {"decode": {"labels": list(COLOURS)}} if "tflite" in float_model else {}  # TFLite: no names metadata
    fp, qp = Classifier(model_dir / float_model, **labels), Classifier(model_dir / quant_model, **labels)
    photos = _photos()
    rf, rq = fp(photos), qp(photos)
    assert len(rf) == len(rq) == len(photos)
    top_f = [r.top()[0] for r in rf]
    top_q = [r.top()[0] for r in rq]
    agreement = np.mean(np.array(top_f) == np.array(top_q))
    assert agreement == 1.0, (top_f, top_q)
    # the float model gets the prototype colour right (a meaningful model, not just self-consistent)
    names = list(COLOURS)
    assert [r.labels[0] for r in rf] == [names[i % len(names)] for i in range(len(photos))]
    # raw outputs: SQNR of the dequantized int8 logits against the float logits
    bf, bq = fp.preprocess(photos), qp.preprocess(photos)
    yf = fp.infer(bf.tensor)[0].astype(np.float32)
    yq = qp.infer(bq.tensor)[0]
    spec = qp.info.outputs[0]
    if spec.io == "integer":
        s, z = spec.qparams
        yq = (yq.astype(np.float32) - z) * np.float32(s)
    floor = 12.0 if "tflite" in quant_model else 25.0  # TFLite: 16×16 input, per-tensor int8 logits, 1 step ≈ 0.32
    assert float(mq.metrics.sqnr(yf, yq.astype(np.float32))) > floor


def test_single_image_and_batch(model_dir: Path) -> None:
    clf = Classifier(model_dir / "colour_classifier.onnx", decode={"topk": 3})
    one = clf(_solid("blue"))
    assert one.labels[0] == "blue" and len(one.labels) == 3
    many = clf([_solid("blue"), _solid("green")])
    assert [m.labels[0] for m in many] == ["blue", "green"]
    assert set(clf.timings) == {"preprocess", "inference", "decode"}
    assert clf([]) == []


def test_labels_from_metadata_or_override(model_dir: Path) -> None:
    clf = Classifier(model_dir / "colour_classifier.onnx")
    assert clf.decode_options["labels"] == list(COLOURS)
    clf2 = Classifier(model_dir / "colour_classifier.onnx", decode={"labels": [f"c{i}" for i in range(9)]})
    assert clf2(_solid("white")).labels[0] == "c1"


def test_float_input_to_uint8_model_is_caught(model_dir: Path) -> None:
    for name in ("colour_classifier_u8io.onnx", "colour_classifier_int8.tflite"):
        clf = Classifier(model_dir / name)
        spec = clf.input
        with pytest.raises(mq.InputTypeError, match="expects dtype uint8, got float32"):
            clf.infer(np.zeros(spec.static_shape(1), np.float32))


def test_bad_options(model_dir: Path) -> None:
    with pytest.raises(mq.InvalidArgumentError, match="preprocess must be a dict"):
        Classifier(model_dir / "colour_classifier.onnx", preprocess="imagenet")  # type: ignore[arg-type]
    with pytest.raises(mq.InvalidArgumentError, match="valid values are: auto, onnxruntime, litert"):
        Classifier(model_dir / "colour_classifier.onnx", runtime="coreml")


# -------------------------------------------------------------------------------------------- detection
@pytest.mark.parametrize("model", ["colour_detector.onnx", "colour_detector.int8.onnx"])
def test_detector_boxes_in_original_pixels(model_dir: Path, model: str) -> None:
    """A red rectangle on grey, in a non-square photo: letterbox + reverse mapping put the box back on it."""
    box = (40, 60, 140, 150)
    det = Detector(model_dir / model, decode={"conf": 0.4})
    r = det(_scene(box=box)).to_numpy()
    assert len(r) >= 1 and r.labels[0] == "red"
    ref = type(r)(np.array([box], np.float32), np.ones(1, np.float32), np.array([2], np.int32), ("red",))
    m = match_detections(ref, type(r)(r.boxes[:1], r.scores[:1], r.class_ids[:1], r.labels[:1]), 0.5)
    assert m["matched"] == 1 and m["mean_iou"] > 0.8, (r.boxes[:1], box)


def test_detector_int8_agrees_with_float(model_dir: Path) -> None:
    scenes = [_scene(box=(20 + 10 * i, 30, 120 + 10 * i, 130), colour=c)
              for i, c in enumerate(["red", "blue", "green", "yellow"])]
    fp = Detector(model_dir / "colour_detector.onnx", decode={"conf": 0.4})
    qp = Detector(model_dir / "colour_detector.int8.onnx", decode={"conf": 0.4})
    for a, b in zip(fp(scenes), qp(scenes), strict=True):
        m = match_detections(a, b)
        assert m["recall"] == 1.0 and m["mean_iou"] > 0.9, m
    batch = fp.preprocess(scenes)
    yf, yq = fp.infer(batch.tensor)[0], qp.infer(batch.tensor)[0]
    # ~21 dB here: int8 probabilities near 0 lose most of their value and √f amplifies that, on anchors far below
    # the threshold; the detections themselves agree (above)
    assert float(mq.metrics.sqnr(yf[:, 4:], yq[:, 4:])) > 18.0


# -------------------------------------------------------------------------------------------- segmentation
@pytest.mark.parametrize("model", ["colour_segmenter.onnx", "colour_segmenter.int8.onnx"])
def test_segmenter_mask_in_original_size(model_dir: Path, model: str) -> None:
    img = np.empty((90, 150, 3), np.uint8)
    img[:, :75] = np.round(np.array(COLOURS["blue"]) * 255)
    img[:, 75:] = np.round(np.array(COLOURS["yellow"]) * 255)
    seg = Segmenter(model_dir / model)(img)
    mask = mq.to_numpy(seg.mask)
    assert mask.shape == (90, 150)
    names = list(COLOURS)
    assert names[int(mask[45, 10])] == "blue" and names[int(mask[45, 140])] == "yellow"
    assert np.mean(mask[:, :70] == names.index("blue")) > 0.95


def test_per_axis_integer_output_is_dequantized(model_dir: Path, tmp_path: Path) -> None:
    """A uint8 output quantized per class (axis 1) is dequantized with its own per-axis parameters."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(model_dir / "colour_classifier.onnx"))
    scale = (np.arange(1, 10, dtype=np.float32) * np.float32(10 / 255 / 5)).astype(np.float32)  # 9 different scales
    zp = np.arange(9, dtype=np.uint8)
    m.graph.initializer.extend([numpy_helper.from_array(scale, "oq_s"), numpy_helper.from_array(zp, "oq_z")])
    m.graph.node.append(helper.make_node("QuantizeLinear", ["logits", "oq_s", "oq_z"], ["logits_q"], axis=1))
    m.graph.output.pop()
    m.graph.output.append(helper.make_tensor_value_info("logits_q", TensorProto.UINT8, ["batch", 9]))
    path = tmp_path / "per_axis_out.onnx"
    onnx.save(m, str(path))
    spec = mq.inspect_model(path).outputs[0]
    assert spec.per_axis and spec.axis == 1 and spec.io == "integer"
    qp, fp = Classifier(path), Classifier(model_dir / "colour_classifier.onnx")
    photos = _photos(9)
    assert [r.top()[0] for r in qp(photos)] == [r.top()[0] for r in fp(photos)]
    y = qp.infer(qp.preprocess(photos).tensor)[0]
    deq, quant = qp._float_output(spec, y)
    assert quant is None
    np.testing.assert_array_equal(mq.to_numpy(deq), (y.astype(np.float32) - zp.astype(np.float32)) * scale)


def test_int8_input_with_nonzero_zero_point(model_dir: Path, tmp_path: Path) -> None:
    """int8 input, scale 1/255, zero point −128 (the TFLite int8 convention): the pipeline feeds pixel − 128."""
    import onnx
    from onnx import TensorProto, numpy_helper

    m = onnx.load(str(model_dir / "colour_classifier_u8io.onnx"))
    for i, t in enumerate(m.graph.initializer):
        if t.name == "in_zp":
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.array(-128, np.int8), "in_zp"))
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.INT8
    path = tmp_path / "i8in.onnx"
    onnx.save(m, str(path))
    spec = mq.inspect_model(path).inputs[0]
    assert (spec.dtype, spec.qparams) == ("int8", (float(np.float32(1 / 255)), -128))
    clf, ref = Classifier(path), Classifier(model_dir / "colour_classifier_u8io.onnx")
    photos = _photos(9)
    x = clf.preprocess(photos).tensor
    x_ref = ref.preprocess(photos).tensor
    assert x.dtype == np.int8
    np.testing.assert_array_equal(x.astype(np.int16), x_ref.astype(np.int16) - 128)
    assert [r.top()[0] for r in clf(photos)] == [r.top()[0] for r in ref(photos)]


def test_backends_agree(model_dir: Path, backend: str) -> None:
    """Preprocessing on NumPy or MLX feeds the runtime the same tensor (within float32 rounding): same detections."""
    ref = Detector(model_dir / "colour_detector.onnx", decode={"conf": 0.4})
    det = Detector(model_dir / "colour_detector.onnx", preprocess={"backend": backend}, decode={"conf": 0.4})
    batch = det.preprocess([_scene()])
    assert mq.get_backend(batch.tensor).name == backend
    a, b = ref(_scene()).to_numpy(), det(_scene()).to_numpy()
    assert a.labels == b.labels
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


@pytest.mark.parametrize("model", ["colour_detector_int8.tflite", "colour_detector_float.tflite"])
def test_tflite_detector_normalized_boxes(model_dir: Path, model: str) -> None:
    """LiteRT, NHWC uint8 (or float) input, one [1, anchors, 4 + classes] output with boxes as fractions of the input
    (Ultralytics TFLite convention): boxes="normalized" scales them to input pixels before the reverse mapping."""
    labels = BM.TFLITE_DETECTOR_LABELS
    det = Detector(model_dir / model, boxes="normalized", decode={"labels": labels, "conf": 0.5})
    assert det.preprocess_options["layout"] == "nhwc" and det.preprocess_options["size"] == (64, 64)
    img = np.full((80, 120, 3), 128, np.uint8)
    img[0:40, 0:60] = (191, 31, 31)  # red in the top-left window
    r = det(img).to_numpy()
    assert r.labels[0] == "red" and r.scores[0] > 0.8
    np.testing.assert_allclose(r.boxes[0], [0, 0, 60, 40], atol=1.5)  # the window, in original pixels
    raw = Detector(model_dir / model, decode={"labels": labels, "conf": 0.5})(img).to_numpy()
    assert raw.boxes.max() < 2.0  # without it the boxes stay fractions: the option is what makes them pixels
    with pytest.raises(mq.InvalidArgumentError, match="valid values are: pixels, normalized"):
        Detector(model_dir / model, boxes="percent")


def test_tflite_detector_int8_agrees_with_float(model_dir: Path) -> None:
    labels = {"labels": BM.TFLITE_DETECTOR_LABELS, "conf": 0.3}
    fp = Detector(model_dir / "colour_detector_float.tflite", boxes="normalized", decode=labels)
    qp = Detector(model_dir / "colour_detector_int8.tflite", boxes="normalized", decode=labels)
    boxes = [(0, 0, 150, 100), (150, 0, 300, 100), (0, 100, 150, 200)]
    scenes = [_scene(box=bx, colour=c) for bx, c in zip(boxes, ["red", "green", "blue"], strict=True)]
    for a, b, c in zip(fp(scenes), qp(scenes), ["red", "green", "blue"], strict=True):
        m = match_detections(a, b)
        assert m["reference"] >= 1 and a.labels[0] == c
        assert m["recall"] == 1.0 and m["mean_iou"] > 0.99, m


def test_detector_four_output_postprocess_head(tmp_path: Path) -> None:
    """A model with the 4 outputs of TFLite_Detection_PostProcess (boxes yxyx normalized, classes, scores, count)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0.5, 0.5, 0.9, 0.9]]], np.float32)
    inits = [numpy_helper.from_array(boxes, "boxes_c"), numpy_helper.from_array(np.array([[0.0, 2.0]], np.float32),
             "classes_c"), numpy_helper.from_array(np.array([2.0], np.float32), "count_c"),
             numpy_helper.from_array(np.array([0, 2], np.int64), "rb")]
    nodes = [helper.make_node("Identity", ["boxes_c"], ["boxes"]), helper.make_node("Identity", ["classes_c"],
             ["classes"]), helper.make_node("Identity", ["count_c"], ["count"]),
             helper.make_node("ReduceMean", ["input"], ["means"], axes=[2, 3], keepdims=0),
             helper.make_node("Gather", ["means", "rb"], ["scores"], axis=1)]  # scores: mean red, mean blue
    outs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 2, 4]),
            helper.make_tensor_value_info("classes", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("count", TensorProto.FLOAT, [1])]
    g = helper.make_graph(nodes, "pp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
                          outs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / "ssd_like.onnx"
    onnx.save(m, str(path))
    det = Detector(path, decode={"labels": ["red", "green", "blue"], "label_offset": 0, "conf": 0.5})
    img = np.zeros((64, 64, 3), np.uint8)
    img[..., 0] = 200  # red: mean R ≈ 0.78 > conf, mean B = 0
    r = det(img).to_numpy()
    assert r.labels == ("red",)
    # normalized yxyx (0.1, 0.2, 0.5, 0.6) → xyxy in the 32×32 input → ×2 back to the 64×64 photo
    np.testing.assert_allclose(r.boxes, [[0.2 * 64, 0.1 * 64, 0.6 * 64, 0.5 * 64]], atol=1e-3)


def test_shared_scale_pitfall_is_reported(model_dir: Path) -> None:
    """INT8 YOLO-style TFLite export with pixel boxes and scores in one int8 output: scale 65/255 leaves scores 4
    levels in [0, 1]. The Detector warns when it opens the model (from the file's parameters, before any run)."""
    from mlxquant.decode.diagnostics import DecodeWarning

    decode = {"labels": BM.TFLITE_DETECTOR_LABELS, "conf": 0.5}
    with pytest.warns(DecodeWarning, match=r"scores in \[0, 1\] can take only 4 values"):
        Detector(model_dir / "colour_detector_int8_pixelboxes.tflite", decode=decode)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the normalized export is fine: no warning
        Detector(model_dir / "colour_detector_int8.tflite", boxes="normalized", decode=decode)


@pytest.mark.parametrize(("probs_model", "logits_model"), [
    ("colour_classifier_softmax.onnx", "colour_classifier.onnx"),
    ("colour_classifier_softmax.int8.onnx", "colour_classifier.onnx"),
    ("colour_classifier_softmax.qop.onnx", "colour_classifier.onnx"),  # QOperator: QLinearSoftmax
    ("colour_classifier_softmax_int8.tflite", "colour_classifier_float.tflite"),
])
def test_softmax_output_is_not_softmaxed_twice(model_dir: Path, probs_model: str, logits_model: str) -> None:
    """A model ending in Softmax gives probabilities: the Classifier reports them as they are (softmax=False), so they
    match the logits model decoded with softmax — instead of a second softmax flattening them towards 1/9."""
    dec = {"labels": list(COLOURS), "topk": 9}
    pp, lp = Classifier(model_dir / probs_model, decode=dec), Classifier(model_dir / logits_model, decode=dec)
    assert pp.decode_options["softmax"] is False and "softmax" not in lp.decode_options
    # ONNX: float or QDQ softmax, within 0.02; TFLite: int8 logits (one step ≈ 0.3 here, p·(1−p) ≤ 0.25 → ≤ 0.04
    # after half a step) then int8 probabilities (1/256 steps)
    tol = 0.05 if "tflite" in probs_model else 0.02
    photos = _photos(9)
    for a, b in zip(pp(photos), lp(photos), strict=True):
        assert a.labels[0] == b.labels[0]
        sa = dict(zip(a.labels, mq.to_numpy(a.scores).tolist(), strict=True))
        sb = dict(zip(b.labels, mq.to_numpy(b.scores).tolist(), strict=True))
        for k in sa:
            assert abs(sa[k] - sb[k]) < tol, (k, sa[k], sb[k])
    forced = Classifier(model_dir / probs_model, decode={**dec, "softmax": True})  # the caller can still ask
    assert forced.decode_options["softmax"] is True


@pytest.mark.parametrize("head", ["softmax", "argmax"])
def test_segmenter_heads(model_dir: Path, tmp_path: Path, head: str) -> None:
    """Segmenters ending in Softmax (probabilities) or ArgMax (class ids [B, H, W]) decode like the logits model."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(str(model_dir / "colour_segmenter.onnx"))
    m.graph.output.pop()
    if head == "softmax":
        m.graph.node.append(helper.make_node("Softmax", ["logits"], ["out"], axis=1))
        m.graph.output.append(helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 9, 32, 32]))
    else:
        m.graph.node.append(helper.make_node("ArgMax", ["logits"], ["out"], axis=1, keepdims=0))
        m.graph.output.append(helper.make_tensor_value_info("out", TensorProto.INT64, ["batch", 32, 32]))
    path = tmp_path / f"seg_{head}.onnx"
    onnx.save(m, str(path))
    seg = Segmenter(path)
    assert seg.decode_options["kind"] == {"softmax": "probabilities", "argmax": "argmax"}[head]
    img = np.empty((90, 150, 3), np.uint8)
    img[:, :75] = np.round(np.array(COLOURS["blue"]) * 255)
    img[:, 75:] = np.round(np.array(COLOURS["yellow"]) * 255)
    got = mq.to_numpy(seg(img).mask)
    ref = Segmenter(model_dir / "colour_segmenter.onnx")(img)
    np.testing.assert_array_equal(got, mq.to_numpy(ref.mask))
    if head == "softmax":  # confidence = the model's own max probability, equal to softmax of the logits
        np.testing.assert_allclose(mq.to_numpy(seg(img).confidence), mq.to_numpy(ref.confidence), atol=1e-5)


def test_float16_model(model_dir: Path, tmp_path: Path) -> None:
    """A float16-I/O ONNX model: the pipeline feeds float16 (from the model's input dtype) and decodes its output."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(str(model_dir / "colour_classifier.onnx"))
    for n in m.graph.node:  # the float graph now reads "input_f32" and writes "logits_f32"
        n.input[:] = ["input_f32" if x == "input" else x for x in n.input]
        n.output[:] = ["logits_f32" if x == "logits" else x for x in n.output]
    m.graph.node.insert(0, helper.make_node("Cast", ["input"], ["input_f32"], to=TensorProto.FLOAT))
    m.graph.node.append(helper.make_node("Cast", ["logits_f32"], ["logits"], to=TensorProto.FLOAT16))
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    path = tmp_path / "fp16.onnx"
    onnx.save(m, str(path))
    clf, ref = Classifier(path), Classifier(model_dir / "colour_classifier.onnx")
    assert clf.preprocess_options["dtype"] == "float16"
    photos = _photos(9)
    assert clf.preprocess(photos).tensor.dtype == np.float16
    assert [r.top()[0] for r in clf(photos)] == [r.top()[0] for r in ref(photos)]


def _u8io_with_input_params(model_dir: Path, path: Path, scale: float, zp: int, to_unit: bool) -> Path:
    """The uint8-I/O classifier with other input parameters; ``to_unit`` maps [-1, 1] back to [0, 1] in-graph."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(model_dir / "colour_classifier_u8io.onnx"))
    for i, t in enumerate(m.graph.initializer):
        if t.name == "in_scale":
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.array(scale, np.float32), "in_scale"))
        if t.name == "in_zp":
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.array(zp, np.uint8), "in_zp"))
    if to_unit:
        dq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear")
        dq.output[0] = "input_pm1"
        m.graph.initializer.extend([numpy_helper.from_array(np.array(1.0, np.float32), "c_one"),
                                    numpy_helper.from_array(np.array(0.5, np.float32), "c_half")])
        m.graph.node.insert(1, helper.make_node("Add", ["input_pm1", "c_one"], ["input_p1"]))
        m.graph.node.insert(2, helper.make_node("Mul", ["input_p1", "c_half"], ["input"]))
    onnx.save(m, str(path))
    return path


def test_normalization_read_from_input_quantization(model_dir: Path, tmp_path: Path) -> None:
    """uint8 input with scale 1/128, zero point 128 encodes [-1, 1]: the pipeline feeds x/127.5 − 1 quantized, and
    the model (which maps [-1, 1] back to [0, 1] inside) classifies like the float model."""
    path = _u8io_with_input_params(model_dir, tmp_path / "pm1.onnx", 1 / 128, 128, to_unit=True)
    clf, ref = Classifier(path), Classifier(model_dir / "colour_classifier.onnx")
    assert clf.preprocess_options["normalization"] == "tensorflow"
    photos = _photos(9)
    assert [r.top()[0] for r in clf(photos)] == [r.top()[0] for r in ref(photos)]


def test_unknown_input_range_raises(model_dir: Path, tmp_path: Path) -> None:
    path = _u8io_with_input_params(model_dir, tmp_path / "odd.onnx", 0.02, 100, to_unit=False)
    with pytest.raises(mq.InvalidArgumentError, match=r"encodes floats in \[-2, 3.1\].*normalization"):
        Classifier(path)
    clf = Classifier(path, preprocess={"normalization": "imagenet"})  # the caller can say it
    assert clf.preprocess_options["normalization"] == "imagenet"


def test_integer_input_parameters_beat_a_preset(model_dir: Path) -> None:
    """preset='tflite_quantized' says raw 0-255 pixels, but this input's scale is 1/255 ([0, 1] floats): the model's
    own parameters win, so the result equals the preset-free pipeline (raw would saturate every pixel at 255)."""
    plain = Classifier(model_dir / "colour_classifier_int8.tflite", decode={"labels": list(COLOURS)})
    with_preset = Classifier(model_dir / "colour_classifier_int8.tflite", preset="tflite_quantized",
                             decode={"labels": list(COLOURS)})
    assert with_preset.preprocess_options["normalization"] == "scale"
    photos = _photos(9)
    np.testing.assert_array_equal(plain.preprocess(photos).tensor, with_preset.preprocess(photos).tensor)


# -------------------------------------------------------------------------------------------- models without labels
def test_classifier_without_stored_labels_gives_class_ids(model_dir: Path) -> None:
    """A 9-class TFLite model with no label file: the decoder's ImageNet default (1000 names) must not be applied —
    the result carries class ids (same top-1 as with names) instead of raising a label-count error."""
    named = Classifier(model_dir / "colour_classifier_int8.tflite", decode={"labels": list(COLOURS)})
    bare = Classifier(model_dir / "colour_classifier_int8.tflite")
    assert bare.decode_options["labels"] is None
    photos = _photos(9)
    assert [r.top()[0] for r in bare(photos)] == [r.top()[0] for r in named(photos)]


def test_detector_without_stored_labels_takes_the_class_count_from_the_output(model_dir: Path,
                                                                              tmp_path: Path) -> None:
    """The colour detector [B, 4 + 8, 472] with its `names` metadata removed: 8 classes, not COCO's 80."""
    onnx = pytest.importorskip("onnx")
    m = onnx.load(str(model_dir / "colour_detector.onnx"))
    del m.metadata_props[:]
    p = tmp_path / "nolabels.onnx"
    onnx.save(m, str(p))
    box = (40, 60, 140, 150)
    named = Detector(model_dir / "colour_detector.onnx", decode={"conf": 0.4})(_scene(box=box)).to_numpy()
    det = Detector(p, decode={"conf": 0.4})
    assert det.decode_options["nc"] == 8 and det.decode_options["labels"] is None
    r = det(_scene(box=box)).to_numpy()
    np.testing.assert_array_equal(r.class_ids, named.class_ids)
    np.testing.assert_allclose(r.boxes, named.boxes)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_one_channel_model_is_fed_gray(tmp_path: Path, layout: str) -> None:
    """A [N, 1, H, W] (or [N, H, W, 1]) model gets one luma channel (Pillow "L"), not three RGB channels; a
    [N, C, 1, 1] output is a classification."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    shape = ["n", 1, 12, 10] if layout == "nchw" else ["n", 12, 10, 1]
    nodes = [h.make_node("GlobalAveragePool", ["t"], ["g"]), h.make_node("Conv", ["g", "W"], ["y"])]
    nodes.insert(0, h.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]) if layout == "nhwc"
                 else h.make_node("Identity", ["x"], ["t"]))
    w = nh.from_array(np.array([1.0, -1.0, 0.0], np.float32).reshape(3, 1, 1, 1), "W")
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, shape)],
                     [h.make_tensor_value_info("y", TP.FLOAT, ["n", 3, 1, 1])], [w])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    p = tmp_path / "gray.onnx"
    onnx.save(m, str(p))
    clf = Classifier(p)
    assert clf.preprocess_options["color"] == "gray"
    img = np.zeros((30, 20, 3), np.uint8)
    img[:, :10] = (255, 255, 255)
    img[:, 10:] = (255, 0, 0)  # luma 76: mean (255 + 76) / 2 / 255 ≈ 0.65
    (y,) = clf.infer(clf.preprocess(img).tensor)
    assert y.shape == (1, 3, 1, 1)
    mean = float(clf.preprocess(img).tensor.mean())
    np.testing.assert_allclose(y.reshape(-1), [mean, -mean, 0.0], rtol=1e-5)
    assert 0.6 < mean < 0.7
    assert clf(img).top()[0] == 0


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_detector_yolo_seg_prototypes(tmp_path: Path, layout: str) -> None:
    """A YOLO-seg model (detections [1, 4 + 2 + 4, 16] and mask prototypes [1, 4, 16, 16], NHWC [1, 16, 16, 4] for an
    NHWC model as Ultralytics' TFLite export): the Detector passes the prototypes to mq.decode.yolo and maps the
    masks back to the photo — the same as calling the decoder by hand with the pipeline's own transform."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(3)
    det = np.zeros((1, 10, 16), np.float32)
    det[0, 0:4] = rng.uniform(8, 56, (4, 16))  # cx, cy, w, h in input pixels
    det[0, 4:6] = rng.uniform(0, 1, (2, 16))  # 2 class scores
    det[0, 6:] = rng.normal(0, 1, (4, 16))  # 4 mask coefficients
    protos = rng.normal(0, 1, (1, 4, 16, 16)).astype(np.float32)
    p_file = protos.transpose(0, 2, 3, 1) if layout == "nhwc" else protos
    shape = [1, 3, 64, 64] if layout == "nchw" else [1, 64, 64, 3]
    nodes = [h.make_node("ReduceMean", ["x"], ["m1"], axes=[1, 2, 3], keepdims=0),
             h.make_node("Unsqueeze", ["m1", "ax"], ["m"]),
             h.make_node("Mul", ["m", "zero"], ["z"]),
             h.make_node("Add", ["D", "z"], ["output0"]), h.make_node("Add", ["P", "z"], ["output1"])]
    inits = [nh.from_array(det, "D"), nh.from_array(p_file, "P"), nh.from_array(np.zeros((), np.float32), "zero"),
             nh.from_array(np.array([1], np.int64), "ax")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, shape)],
                     [h.make_tensor_value_info("output0", TP.FLOAT, [1, 10, 16]),
                      h.make_tensor_value_info("output1", TP.FLOAT, list(p_file.shape))], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    p = tmp_path / "seg.onnx"
    onnx.save(m, str(p))
    img = _scene(90, 120)
    d = Detector(p, decode={"conf": 0.3})
    assert d.decode_options["nc"] == 2 and d.decode_options["labels"] is None
    r = d(img)
    t = d.preprocess(img).transforms[0]
    (ref,) = mq.decode.yolo(det, protos=protos, input_size=(64, 64), conf=0.3, labels=None, nc=2)
    ref = ref.map_to_original(t)
    assert len(r) == len(ref) > 0
    np.testing.assert_allclose(mq.to_numpy(r.boxes), mq.to_numpy(ref.boxes), rtol=1e-6)
    assert r.masks is not None and tuple(r.masks.shape[-2:]) == (90, 120)
    np.testing.assert_array_equal(mq.to_numpy(r.masks), mq.to_numpy(ref.masks))
    # the same model with boxes as fractions of the input (Ultralytics TFLite): the masks are cropped with pixel
    # boxes, so the result is the pixel model's
    det_n = det.copy()
    det_n[0, 0:4] /= 64
    m.graph.initializer[0].CopyFrom(nh.from_array(det_n, "D"))
    pn = tmp_path / "seg_normalized.onnx"
    onnx.save(m, str(pn))
    rn = Detector(pn, boxes="normalized", decode={"conf": 0.3})(img)
    np.testing.assert_allclose(mq.to_numpy(rn.boxes), mq.to_numpy(r.boxes), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(mq.to_numpy(rn.masks), mq.to_numpy(r.masks))


@pytest.mark.parametrize("head", ["logits", "sigmoid"])
def test_segmenter_one_channel_is_a_binary_mask(tmp_path: Path, head: str) -> None:
    """A [B, 1, H, W] output is a binary mask (logit > 0, or p > 0.5 after a Sigmoid), not the argmax of one channel
    (always class 0). Model: logit = red − green per pixel."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    nodes = [h.make_node("Conv", ["x", "W"], ["y" if head == "logits" else "l"])]
    if head == "sigmoid":
        nodes.append(h.make_node("Sigmoid", ["l"], ["y"]))
    w = nh.from_array(np.array([4.0, -4.0, 0.0], np.float32).reshape(1, 3, 1, 1), "W")
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [1, 3, 16, 16])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [1, 1, 16, 16])], [w])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    p = tmp_path / "bin.onnx"
    onnx.save(m, str(p))
    img = np.zeros((32, 48, 3), np.uint8)
    img[:, :24] = (220, 20, 20)  # red left half → foreground
    img[:, 24:] = (20, 220, 20)
    seg = Segmenter(p)
    assert seg.decode_options["kind"] == "sigmoid"
    r = seg(img)
    mask = mq.to_numpy(r.mask)
    assert mask.shape == (32, 48)
    assert (mask[:, :20] == 1).all() and (mask[:, 28:] == 0).all()
    conf = mq.to_numpy(r.confidence)
    assert conf.min() > 0.9  # |logit| = 4 · 200 / 255 ≈ 3.1 → p ≈ 0.96 either way


@pytest.mark.parametrize("case", ["int16", "per_axis_int8"])
def test_inputs_vision_cannot_quantize_are_quantized_by_the_pipeline(tmp_path: Path, case: str) -> None:
    """An int16 input (TFLite 16x8, range [-1, 1]) and a per-channel int8 input (axis 3, each channel [0, 1]): the
    preprocessing stays float32 and the pipeline quantizes it with the model's own parameters (LiteRT rounding);
    the model's DEQUANTIZE gives back the normalized pixels within half a step. Both used to raise."""
    pytest.importorskip("ai_edge_litert")
    w = BM._TFLiteWriter()
    if case == "int16":
        scale, zp, norm = np.float32(1 / 32767), np.int64(0), lambda v: v / 127.5 - 1
        x = w.tensor("x", [1, 4, 4, 3], 7, scale=scale, zp=zp)
    else:
        scale = (np.float32(1 / 255) * np.float32([1.0, 1.01, 0.99])).astype(np.float32)
        zp, norm = np.full(3, -128, np.int64), lambda v: v / 255
        x = w.tensor("x", [1, 4, 4, 3], 9, scale=scale, zp=zp, qdim=3)
    y = w.tensor("y", [1, 4, 4, 3], 0)
    w.op(6, [x], [y])  # DEQUANTIZE
    p = tmp_path / f"{case}.tflite"
    p.write_bytes(w.finish([x], [y], case))
    seg = Segmenter(p)
    assert seg.preprocess_options["dtype"] == "float32" and "quant" not in seg.preprocess_options
    img = np.random.default_rng(0).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    batch = seg.preprocess(img)
    assert batch.tensor.dtype == (np.int16 if case == "int16" else np.int8)
    (out,) = seg.infer(batch.tensor)
    step = np.broadcast_to(scale, (3,))
    assert np.all(np.abs(out[0] - norm(img.astype(np.float32))) <= step / 2 + 1e-6)
    assert seg(img).mask.shape == (4, 4)


def test_unknown_decode_option_fails_at_construction(model_dir: Path) -> None:
    """A misspelt decode option is an InvalidArgumentError naming the valid ones when the pipeline is built, not a
    TypeError from inside the decoder on the first image."""
    with pytest.raises(mq.InvalidArgumentError, match=r"unknown decode option\(s\) \['top_k'\].*valid names are: topk"):
        Classifier(model_dir / "colour_classifier.onnx", decode={"top_k": 3})
    with pytest.raises(mq.InvalidArgumentError, match=r"\['threshold'\] for Detector.*conf, iou"):
        Detector(model_dir / "colour_detector.onnx", decode={"threshold": 0.5})
    with pytest.raises(mq.InvalidArgumentError, match=r"\['conf'\] for Segmenter"):
        Segmenter(model_dir / "colour_segmenter.onnx", decode={"conf": 0.5})


def test_detector_raw_ssd_head(tmp_path: Path) -> None:
    """A raw SSD model (box encodings [1, N, 4] + class scores [1, N, 1 + 2], no postprocess op): the Detector asks
    for the anchors (not stored in the file), then decodes with mq.decode.ssd and maps the boxes back — the same as
    calling the decoder by hand with the pipeline's transform."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(5)
    n = 6
    enc = rng.normal(0, 0.5, (1, n, 4)).astype(np.float32)
    logits = rng.normal(0, 3, (1, n, 3)).astype(np.float32)
    anchors = np.column_stack([rng.uniform(0.2, 0.8, (n, 2)), rng.uniform(0.1, 0.4, (n, 2))]).astype(np.float32)
    nodes = [h.make_node("ReduceMean", ["x"], ["m1"], axes=[1, 2, 3], keepdims=0),
             h.make_node("Unsqueeze", ["m1", "ax"], ["m"]), h.make_node("Mul", ["m", "zero"], ["z"]),
             h.make_node("Add", ["E", "z"], ["boxes"]), h.make_node("Add", ["S", "z"], ["scores"])]
    inits = [nh.from_array(enc, "E"), nh.from_array(logits, "S"), nh.from_array(np.zeros((), np.float32), "zero"),
             nh.from_array(np.array([1, 2], np.int64), "ax")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [1, 3, 32, 32])],
                     [h.make_tensor_value_info("boxes", TP.FLOAT, [1, n, 4]),
                      h.make_tensor_value_info("scores", TP.FLOAT, [1, n, 3])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    p = tmp_path / "ssd.onnx"
    onnx.save(m, str(p))
    with pytest.raises(mq.InvalidArgumentError, match=r"raw SSD head.*anchors"):
        Detector(p)
    det = Detector(p, decode={"anchors": anchors, "conf": 0.3})
    assert det.decode_options["labels"] is None
    img = _scene(60, 90)
    r = det(img)
    (ref,) = mq.decode.ssd(enc, logits, anchors, conf=0.3, labels=None, input_size=(32, 32))
    ref = ref.map_to_original(det.preprocess(img).transforms[0])
    assert len(r) == len(ref) > 0
    np.testing.assert_allclose(mq.to_numpy(r.boxes), mq.to_numpy(ref.boxes), rtol=1e-6)
    np.testing.assert_array_equal(mq.to_numpy(r.class_ids), mq.to_numpy(ref.class_ids))


def test_compare_outputs_refuses_codes_against_floats(model_dir: Path) -> None:
    """The uint8-I/O classifier's raw output holds codes: compared with the float model's logits it gives a
    meaningless SQNR, so it is refused with the fix; dequantized with its own parameters it compares fine."""
    from mlxquant.pipeline import compare_outputs

    fp, qp = Classifier(model_dir / "colour_classifier.onnx"), Classifier(model_dir / "colour_classifier_u8io.onnx")
    photos = _photos(4)
    yf, yq = fp.infer(fp.preprocess(photos).tensor), qp.infer(qp.preprocess(photos).tensor)
    with pytest.raises(mq.InputTypeError, match=r"dequantize the integer one.*mq.dequantize"):
        compare_outputs(yf, yq)
    res = compare_outputs(yf, [mq.dequantize(yq[0], *qp.info.outputs[0].qparams)])
    assert res["sqnr_db"] > 20
