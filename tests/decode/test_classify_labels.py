"""Labels shipped as data files, classification decoding, quantized outputs and diagnostics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlxquant as mq
from tests.helpers import as_backend, backend_of


def test_imagenet_canonical():
    lab = mq.decode.get_labels("imagenet")
    assert len(lab) == 1000
    known = {0: "tench", 1: "goldfish", 2: "great white shark", 134: "crane", 517: "crane", 638: "maillot",
             639: "maillot", 835: "sundial", 836: "sunglass", 837: "sunglasses", 999: "toilet tissue"}
    for i, name in known.items():
        assert lab[i] == name, (i, lab[i], name)


def test_other_label_sets():
    coco = mq.decode.get_labels("coco80")
    assert len(coco) == 80 and coco[0] == "person" and coco[79] == "toothbrush" and coco[62] == "tv"
    c91 = mq.decode.get_labels("coco91")
    assert len(c91) == 91 and c91[0] == "__background__" and c91[1] == "person" and c91[12] == "N/A"
    assert c91[90] == "toothbrush" and c91.count("N/A") == 10
    assert [x for x in c91 if x not in ("N/A", "__background__")] == list(coco)
    voc = mq.decode.get_labels("voc")
    assert len(voc) == 21 and voc[0] == "background" and voc[15] == "person" and voc[20] == "tvmonitor"
    assert mq.decode.get_labels("cifar10")[9] == "truck" and len(mq.decode.get_labels("cifar100")) == 100
    assert len(mq.decode.get_labels("ade20k")) == 150 and len(mq.decode.get_labels("cityscapes")) == 19
    with pytest.raises(mq.InvalidArgumentError, match="valid label sets are: imagenet, coco80"):
        mq.decode.get_labels("imagenet21k")


def test_classify_background_offset(backend):
    x = np.full((2, 1001), -5.0, np.float32)
    x[0, 837] = 5.0  # column 837 = ImageNet class 836 after the background column
    x[1, 0] = 9.0
    r = mq.decode.classify(as_backend(x, backend), topk=3)
    assert r[0].labels[0] == "sunglass" and mq.to_numpy(r[0].indices)[0] == 837 and r[0].background_offset == 1
    assert r[1].labels[0] == "background"
    assert backend_of(r[0].scores) == backend
    d = r.to_dict()
    assert d[0]["labels"][0] == "sunglass" and isinstance(d[0]["scores"][0], float)


def test_classify_ties_softmax_sigmoid_and_topk_cap(backend):
    x = np.array([[0.0, 2.0, 2.0, 2.0]], np.float32)
    r = mq.decode.classify(as_backend(x, backend), topk=10, labels=None)
    assert mq.to_numpy(r[0].indices).tolist() == [1, 2, 3, 0]  # ties: lower index; topk capped at C
    assert abs(float(mq.to_numpy(r[0].scores).sum()) - 1.0) < 1e-6
    m = mq.decode.classify(as_backend(x, backend), topk=2, labels=None, multi_label=True)
    np.testing.assert_allclose(mq.to_numpy(m[0].scores), 1 / (1 + np.exp(-2.0)), rtol=1e-6)
    raw = mq.decode.classify(as_backend(x, backend), topk=1, labels=None, softmax=False)
    assert float(mq.to_numpy(raw[0].scores)[0]) == 2.0
    # temperature flattens: larger T -> smaller top probability
    hot = mq.decode.classify(as_backend(np.array([1.0, 3.0], np.float32), backend), topk=1, labels=None,
                             temperature=4.0)
    cold = mq.decode.classify(as_backend(np.array([1.0, 3.0], np.float32), backend), topk=1, labels=None)
    assert float(mq.to_numpy(hot[0].scores)[0]) < float(mq.to_numpy(cold[0].scores)[0])


def test_classify_stable_softmax_large_logits():
    r = mq.decode.classify(np.array([1000.0, 999.0, -1000.0], np.float32), topk=3, labels=None)
    np.testing.assert_allclose(r[0].scores, [1 / (1 + np.exp(-1)), 1 / (1 + np.e), 0.0], rtol=1e-6)
    assert np.isfinite(r[0].scores).all()



def test_classify_ranks_by_logit_when_scores_round_equal(backend):
    # sigmoid(20) and sigmoid(30) are both 1.0 in float32, exp(-300 - 0) and exp(-200 - 0) both underflow to 0:
    # the ranking follows the logits (softmax / sigmoid are monotone), equal logits keep the lower index first
    m = mq.decode.classify(as_backend(np.array([[20.0, 30.0, 0.0, 30.0]], np.float32), backend), topk=4,
                           labels=None, multi_label=True)
    assert mq.to_numpy(m[0].indices).tolist() == [1, 3, 0, 2]
    s = mq.decode.classify(as_backend(np.array([[-300.0, -200.0, 0.0]], np.float32), backend), topk=3, labels=None)
    assert mq.to_numpy(s[0].indices).tolist() == [2, 1, 0]
    np.testing.assert_array_equal(mq.to_numpy(s[0].scores), np.float32([1, 0, 0]))
    t = mq.decode.classify(as_backend(np.array([[-300.0, -200.0, 0.0]], np.float32), backend), topk=3, labels=None,
                           temperature=0.5)
    assert mq.to_numpy(t[0].indices).tolist() == [2, 1, 0]


def test_classify_infinite_logits_raise_under_softmax():
    with pytest.raises(mq.NonFiniteError, match=r"\+inf"):
        mq.decode.classify(np.array([[1.0, np.inf, 0.0]], np.float32), labels=None)
    with pytest.raises(mq.NonFiniteError, match="-inf"):
        mq.decode.classify(np.array([[-np.inf, -np.inf]], np.float32), labels=None)
    # -inf logits (masked classes) are fine: probability 0; sigmoid takes +inf (probability 1)
    r = mq.decode.classify(np.array([[-np.inf, 0.0, 1.0]], np.float32), labels=None, topk=3)
    assert r[0].indices.tolist() == [2, 1, 0] and float(r[0].scores[2]) == 0.0
    m = mq.decode.classify(np.array([[np.inf, 0.0]], np.float32), labels=None, multi_label=True)
    assert m[0].indices.tolist() == [0, 1] and m[0].scores.tolist() == [1.0, 0.5]

def test_classify_errors():
    with pytest.raises(mq.ShapeError, match="the classifier output has 10 classes but the label set has 1000"):
        mq.decode.classify(np.zeros(10, np.float32))
    with pytest.raises(mq.ShapeError, match=r"labels are shorter than the classes.*1005 classes.*1000 labels"):
        mq.decode.classify(np.zeros(1005, np.float32))
    with pytest.raises(mq.ShapeError, match=r"expected \(C,\) or \(B, C\)"):
        mq.decode.classify(np.zeros((2, 3, 4), np.float32), labels=None)
    with pytest.raises(mq.InvalidArgumentError, match="topk"):
        mq.decode.classify(np.zeros(3, np.float32), labels=None, topk=0)
    with pytest.raises(mq.InvalidArgumentError, match="temperature"):
        mq.decode.classify(np.zeros(3, np.float32), labels=None, temperature=0.0)
    with pytest.raises(mq.NonFiniteError, match="NaN"):
        mq.decode.classify(np.array([0.0, np.nan], np.float32), labels=None)
    with pytest.raises(mq.InputTypeError, match=r"quant=\(scale, zero_point\)"):
        mq.decode.classify(np.zeros(3, np.int8), labels=None)
    # a [B, C, 1, 1] output is accepted
    assert len(mq.decode.classify(np.zeros((2, 3, 1, 1), np.float32), labels=None)) == 2


def test_classify_quantized_output(backend):
    q = np.array([[-128, 20, 100, -50]], np.int8)
    scale, zp = 0.1, -128
    r = mq.decode.classify(as_backend(q, backend), topk=2, labels=None, quant=(scale, zp))
    deq = (q.astype(np.float32) - zp) * np.float32(scale)
    e = np.exp(deq - deq.max())
    np.testing.assert_allclose(mq.to_numpy(r[0].scores), np.sort((e / e.sum()).ravel())[::-1][:2], rtol=1e-5)
    assert mq.to_numpy(r[0].indices).tolist() == [2, 1]
    r2 = mq.decode.classify(q, topk=1, labels=None, quant={"scale": scale, "zero_point": zp})
    assert r2[0].indices.tolist() == [2]


def test_quant_diagnostics():
    with pytest.warns(mq.decode.DecodeWarning, match="stuck at its zero point 5"):
        mq.decode.classify(np.full((1, 10), 5, np.uint8), labels=None, quant=(0.1, 5))
    sat = np.full((1, 100), 255, np.uint8)
    sat[0, :50] = 3
    # zero point == qmin (softmax-style output): values at the zero point are zeros, not saturation
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        soft = np.zeros((1, 100), np.uint8)
        soft[0, 3] = 200
        mq.decode.classify(soft, labels=None, quant=(1 / 256, 0))
    with pytest.warns(mq.decode.DecodeWarning, match="saturation bounds"):
        mq.decode.classify(sat, labels=None, quant=(0.1, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mq.decode.classify(np.arange(100, dtype=np.uint8)[None], labels=None, quant=(0.1, 0))
    with pytest.raises(mq.InputTypeError, match="already float"):
        mq.decode.classify(np.zeros(3, np.float32), labels=None, quant=(0.1, 0))
