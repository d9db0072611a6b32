"""The mlxquant command: inspect, preprocess, run, demo; one-line errors, exit codes, no half-written outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlxquant.cli import main

from ..models.fixtures import build_models

ROOT = Path(__file__).resolve().parents[2]


def _photos(folder: Path, n: int = 3) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    protos = list(build_models().PROTOTYPES.values())
    for i in range(n):
        img = np.empty((60 + 10 * i, 90, 3), np.uint8)
        img[:] = np.round(np.array(protos[8]) * 255)
        img[10:50, 20:70] = np.round(np.array(protos[2 + i]) * 255)
        Image.fromarray(img).save(folder / f"img{i}.png")
    return folder


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for cmd in ("demo", "inspect", "preprocess", "run"):
        assert cmd in text


def test_inspect_table_and_json(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(model_dir / "colour_classifier_int8.tflite")]) == 0
    out = capsys.readouterr().out
    assert "image_u8" in out and "uint8 I/O scale=0.00392157 zp=0" in out
    assert "weights: 2 quantized tensors (2 per-axis)" in out
    assert main(["inspect", "--weights", str(model_dir / "colour_classifier_int8.tflite")]) == 0
    assert "colour_w  [9, 16, 16, 3]  int8   int8 stored per-axis axis=0" in capsys.readouterr().out
    assert main(["inspect", "--json", str(model_dir / "colour_classifier.int8.onnx")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["format"] == "onnx" and d["inputs"][0]["qdtype"] == "int8" and d["inputs"][0]["io"] == "float"


def test_error_is_one_line_exit_2(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "mlxquant.cli", "inspect", str(tmp_path / "missing.onnx")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert r.stderr.startswith("mlxquant inspect: error: no such model file")
    r = subprocess.run([sys.executable, "-m", "mlxquant.cli", "--debug", "inspect", str(tmp_path / "missing.onnx")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_bad_model_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(b"\x00" * 64)
    assert main(["inspect", str(p)]) == 2
    assert "valid formats are: onnx, tflite" in capsys.readouterr().err


def test_run_detect_writes_outputs(model_dir: Path, tmp_path: Path) -> None:
    imgs = _photos(tmp_path / "imgs")
    out = tmp_path / "out"
    assert main(["run", str(model_dir / "colour_detector.int8.onnx"), str(imgs), "-o", str(out), "--conf", "0.4"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["task"] == "detect" and len(doc["results"]) == 3
    assert doc["results"][0]["labels"][0] == "red"
    for i in range(3):
        assert (out / f"img{i}.png").is_file()
    # refuses to overwrite, then --force replaces
    assert main(["run", str(model_dir / "colour_detector.int8.onnx"), str(imgs), "-o", str(out)]) == 2
    assert main(["run", str(model_dir / "colour_detector.int8.onnx"), str(imgs), "-o", str(out), "--force"]) == 0


@pytest.mark.parametrize(("model", "task"), [("colour_classifier_int8.tflite", "classify"),
                                             ("colour_segmenter.int8.onnx", "segment")])
def test_run_other_tasks(model_dir: Path, tmp_path: Path, model: str, task: str) -> None:
    imgs = _photos(tmp_path / "imgs", 2)
    out = tmp_path / "out"
    assert main(["run", str(model_dir / model), str(imgs / "img0.png"), str(imgs / "img1.png"), "-o", str(out),
                 "--labels", str(_labels(tmp_path))]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["task"] == task and len(doc["results"]) == 2


def _labels(tmp_path: Path) -> Path:
    p = tmp_path / "labels.txt"
    p.write_text("\n".join(build_models().COLOUR_NAMES) + "\n")
    return p


def test_run_failure_leaves_nothing(model_dir: Path, tmp_path: Path) -> None:
    imgs = _photos(tmp_path / "imgs")
    (imgs / "img1.png").write_bytes(b"not an image at all")
    out = tmp_path / "out"
    assert main(["run", str(model_dir / "colour_detector.onnx"), str(imgs), "-o", str(out)]) == 2
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no .partial folder left behind


def test_preprocess_from_model(model_dir: Path, tmp_path: Path) -> None:
    imgs = _photos(tmp_path / "imgs")
    out = tmp_path / "batch.npz"
    assert main(["preprocess", str(imgs), "--model", str(model_dir / "colour_classifier_int8.tflite"),
                 "-o", str(out)]) == 0
    with np.load(out) as z:
        assert z["tensor"].shape == (3, 16, 16, 3) and z["tensor"].dtype == np.uint8
        assert len(z["images"]) == 3 and json.loads(str(z["transforms"]))
    assert main(["preprocess", str(imgs), "--model", str(model_dir / "colour_detector.onnx"), "-o", str(out)]) == 2
    assert main(["preprocess", str(imgs), "--model", str(model_dir / "colour_detector.onnx"), "-o", str(out),
                 "--force"]) == 0
    with np.load(out) as z:
        assert z["tensor"].shape == (3, 3, 256, 256) and z["tensor"].dtype == np.float32


def test_preprocess_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["preprocess", str(empty), "--preset", "yolo", "-o", str(tmp_path / "b.npz")]) == 2
    assert "holds no images" in capsys.readouterr().err
    imgs = _photos(tmp_path / "imgs", 1)
    assert main(["preprocess", str(imgs), "--preset", "yolo", "-o", str(tmp_path / "b.txt")]) == 2
    assert not (tmp_path / "b.txt").exists()


def test_demo_end_to_end(tmp_path: Path) -> None:
    """`mlxquant demo --out DIR` as a user runs it: a separate process, no arguments besides the folder."""
    pytest.importorskip("onnxruntime")
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "mlxquant.cli", "demo", "--out", str(out)], capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "score SQNR" in r.stdout and "matched" in r.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["score_sqnr_db"] > 15 and report["matched"] >= 0.8 * report["float_detections"] > 0
    for name in ("astronaut.jpg", "coffee.jpg", "chelsea.jpg", "colour_detector.int8.onnx", "report.txt"):
        assert (out / name).is_file()
    # a second run replaces its own previous output; a foreign folder is refused
    assert subprocess.run([sys.executable, "-m", "mlxquant.cli", "demo", "--out", str(out)], capture_output=True,
                          timeout=300).returncode == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    r = subprocess.run([sys.executable, "-m", "mlxquant.cli", "demo", "--out", str(foreign)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "not a previous demo output" in r.stderr and (foreign / "keep.txt").exists()


def test_preprocess_with_preset(tmp_path: Path) -> None:
    imgs = _photos(tmp_path / "imgs", 2)
    out = tmp_path / "b.npz"
    assert main(["preprocess", str(imgs), "--preset", "yolo", "--size", "64", "-o", str(out)]) == 0
    with np.load(out) as z:
        assert z["tensor"].shape == (2, 3, 64, 64) and z["tensor"].dtype == np.float32


def test_demo_without_onnx_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["demo", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'mlxquant[onnx]'" in err
    assert not (tmp_path / "d").exists()


def test_run_tflite_detector_normalized(model_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    img = np.full((80, 120, 3), 128, np.uint8)
    img[0:40, 0:60] = (191, 31, 31)
    Image.fromarray(img).save(tmp_path / "red.png")
    labels = tmp_path / "rgb.txt"
    labels.write_text("red\ngreen\nblue\n")
    out = tmp_path / "out"
    assert main(["run", str(model_dir / "colour_detector_int8.tflite"), str(tmp_path / "red.png"), "-o", str(out),
                 "--boxes", "normalized", "--labels", str(labels), "--conf", "0.5"]) == 0
    res = json.loads((out / "results.json").read_text())["results"][0]
    assert res["labels"][0] == "red" and abs(res["boxes"][0][2] - 60) < 1.5


def test_run_dynamic_size_model(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model with dynamic height/width needs --size; without it the error says so in one line."""
    import onnx

    m = onnx.load(str(model_dir / "colour_segmenter.onnx"))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "h", "w"
    for d in m.graph.output[0].type.tensor_type.shape.dim[2:]:
        d.dim_param = "oh"
    onnx.save(m, str(tmp_path / "dyn.onnx"))
    imgs = _photos(tmp_path / "imgs", 1)
    assert main(["run", str(tmp_path / "dyn.onnx"), str(imgs), "-o", str(tmp_path / "o1")]) == 2
    assert "pass preprocess={'size'" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "dyn.onnx"), str(imgs), "-o", str(tmp_path / "o2"), "--size", "64",
                 "--task", "segment", "--labels", str(_labels(tmp_path))]) == 0


def test_run_folder_skips_hidden_files_and_honours_exif(model_dir: Path, tmp_path: Path) -> None:
    """A folder copied from a Mac holds '._name.jpg' resource forks (not images): skipped. An EXIF-rotated JPEG is
    annotated on the rotated pixels the pipeline saw (mask and image agree in size), not on the stored ones."""
    from PIL import Image

    folder = _photos(tmp_path / "imgs", 1)
    (folder / "._img0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    img = np.zeros((30, 50, 3), np.uint8)
    img[:, :25] = (230, 20, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: rotate 90° clockwise to display
    Image.fromarray(img).save(folder / "rotated.jpg", exif=exif)
    out = tmp_path / "out"
    assert main(["run", str(model_dir / "colour_segmenter.onnx"), str(folder), "-o", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert sorted(Path(r["image"]).name for r in doc["results"]) == ["img0.png", "rotated.jpg"]
    with Image.open(out / "rotated.png") as a:
        assert a.size == (30, 50)  # displayed (rotated) width × height
        red = np.asarray(a.convert("RGB"))[:, :, 0].astype(int)
    assert red[:25].mean() > red[25:].mean() + 40  # the red half is on top after the rotation


def test_run_missing_labels_file_is_named(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _photos(tmp_path / "imgs", 1)
    args = ["run", str(model_dir / "colour_classifier.onnx"), str(folder), "-o", str(tmp_path / "o")]
    assert main([*args, "--labels", str(tmp_path / "labels.txt")]) == 2
    assert "no such labels file" in capsys.readouterr().err
    (tmp_path / "labels.txt").write_text("\n".join(build_models().PROTOTYPES) + "\n")
    assert main([*args, "--labels", str(tmp_path / "labels.txt")]) == 0
