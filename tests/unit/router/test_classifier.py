"""The complaint-type classifier: featurizer, runtime model, loading errors, training round trip.

Training tests read a small sample of real texts from ``../shared/datasets`` and are skipped (with
the reason) where that folder is absent. Everything here runs in a few seconds; the heavy
cross-validation is ``python -m infra.model_bench``.
"""
from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from functions.router import classifier as clf
from functions.router.classifier import Classification, ModelLoadError, TextClassifier, default_model_path, load_model
from functions.router.features import FeatureConfig, extract, normalize

ROOT = Path(__file__).resolve().parents[3]
DATASETS = ROOT.parent / "shared" / "datasets"
EXPLANATION = re.compile(r"^[^,]+ [+-]\d+\.\d(, [^,]+ [+-]\d+\.\d)*$")


# -- featurizer ------------------------------------------------------------------------------------------
def test_chinese_gives_character_unigrams_and_bigrams_without_a_segmenter():
    feats = extract("饭菜变质了，有异味")
    assert {"变质", "异味", "饭菜", "变", "质"} <= feats.keys()
    assert "质了有" not in feats  # punctuation ends a CJK run; no trigrams by default


def test_english_gives_words_bigrams_and_in_word_character_grams():
    feats = extract("I was charged twice")
    assert {"charged", "twice", "charged twice", "~harg", "~~cha", "~ged~"} <= feats.keys()


def test_mixed_script_yields_both_kinds():
    feats = extract("iPhone屏幕碎了, refund please")
    assert {"iphone", "屏幕", "碎了", "refund", "refund please"} <= feats.keys()
    assert "iphone 屏幕" not in feats


def test_normalisation_nfkc_case_digits_repeats_and_redactions():
    assert normalize("ＡＢＣ１２３ Hello") == "abc0 hello"
    assert normalize("好好好好好!!!!!!") == "好好!!"
    assert normalize("On XX/XX/2019 XXXX bank") == "on / /0 bank"
    assert extract("等了2小时") == extract("等了35小时")


def test_html_is_stripped_cheaply_and_inline_tags_do_not_split_words():
    text = "<div><p>饭菜<b>变质</b></p><script>alert('x')</script><style>p{}</style>&amp; refund</div>"
    assert normalize(text) == "饭菜变质 & refund"
    assert "alert" not in extract(text)


def test_emoji_are_features_of_their_own_and_emoji_only_text_is_fine():
    assert extract("😡😡😡") == {"😡": 2}  # repeats cut to two
    assert extract("") == {} and extract("   ") == {} and extract(None) == {}


def test_huge_and_pathological_texts_are_capped_and_fast():
    import time

    for text in ("好" * 20000, "x" * 20000, "<a" + "b" * 20000, "<" * 20000, "&amp;" * 6000, "ab " * 7000):
        start = time.perf_counter()
        feats = extract(text)
        assert time.perf_counter() - start < 0.05
        assert sum(feats.values()) < 5000
    assert len(normalize("word " * 5000)) <= FeatureConfig().max_chars


def test_feature_names_never_hold_a_newline():
    assert not [f for f in extract("line one\nline two\r\n第三行\u2028x") if "\n" in f]


# -- the bundled default model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_model() -> TextClassifier:
    return load_model(None)


@pytest.mark.parametrize("text, label", [
    ("外卖送了两个小时才到，饭都凉了", "delivery_logistics"),
    ("吃了之后拉肚子，怀疑食物变质", "food_safety"),
    ("I was charged twice for the same order", "billing_price"),
    ("Someone logged into my account and changed my password", "privacy_security"),
    ("客服态度太差了，还挂我电话", "service_attitude"),
    ("申请退货一个星期了还没退款", "refund_after_sales"),
    ("衣服质量太差，洗一次就掉色", "product_quality"),
])
def test_default_model_gets_obvious_complaints_right(default_model, text, label):
    result = default_model.classify(text)
    assert result.label == label, (result.label, result.explanation())
    assert result.confidence > 0.5


def test_default_model_has_the_documented_taxonomy(default_model):
    assert default_model.labels == ["product_quality", "food_safety", "delivery_logistics", "service_attitude",
                                    "billing_price", "refund_after_sales", "privacy_security", "other"]
    assert re.fullmatch(r"default-\d{8}-[0-9a-f]{8}", default_model.version)
    holdout = default_model.describe()["metrics"]["holdout"]
    assert holdout["texts"] > 300 and holdout["accuracy"] > 0.6


def test_every_decision_carries_calibrated_confidence_alternatives_evidence_and_version(default_model):
    result = default_model.classify("吃了之后拉肚子，怀疑食物变质，还有异味")
    assert 0 < result.confidence <= 1
    assert len(result.alternatives) == 3 and result.label not in [a for a, _ in result.alternatives]
    assert result.confidence + sum(p for _, p in result.alternatives) <= 1 + 1e-9
    assert [p for _, p in result.alternatives] == sorted((p for _, p in result.alternatives), reverse=True)
    assert abs(sum(result.scores.values()) - 1) < 1e-9
    assert result.features and all(w > 0 for _, w in result.features)
    assert EXPLANATION.match(result.explanation()), result.explanation()
    assert result.model_version == default_model.version


@pytest.mark.parametrize("text", ["", "   ", "😡😡😡🔥🔥", "好" * 20000, "x" * 20000, "a" * 3 + "!" * 500,
                                  "<html><body>" + "<div>退款</div>" * 2000 + "</body></html>",
                                  "Refund 退款 مرحبا привет こんにちは 🙂", "\x00\x01\ufffd", "0" * 5000])
def test_bad_input_classifies_without_error(default_model, text):
    result = default_model.classify(text)
    assert result.label in default_model.labels
    assert 0 < result.confidence <= 1
    assert isinstance(result.explanation(), str)


def test_text_without_known_features_gets_the_fallback_label_with_low_confidence(default_model):
    result = default_model.classify("😶")
    assert result.label == "other" and result.features == [] and result.explanation() == ""
    assert result.confidence <= 1 / len(default_model.labels)


def test_explanation_format():
    result = Classification("food_safety", 0.9, [("other", 0.05)], [("变质", 2.14), ("异味", 1.36), ("钱", -0.5)], "v1")
    assert result.explanation() == "变质 +2.1, 异味 +1.4, 钱 -0.5"


def test_runtime_imports_no_numpy_sklearn_or_scipy():
    code = ("import sys; from functions.router.classifier import load_model; m = load_model(None); "
            "m.classify('退款 refund'); bad = [n for n in ('numpy', 'scipy', 'sklearn', 'torch') if n in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


# -- loading failures: loud, specific, never a model that might label wrongly -----------------------------
@pytest.fixture(scope="module")
def default_document() -> dict:
    return json.loads(gzip.decompress(default_model_path().read_bytes()))


def _bytes(document: dict) -> bytes:
    return gzip.compress(json.dumps(document, ensure_ascii=False).encode("utf-8"))


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot read model file"):
        TextClassifier.from_file(tmp_path / "nope.json.gz")
    with pytest.raises(ModelLoadError):
        load_model(str(tmp_path / "nope.json.gz"))


@pytest.mark.parametrize("data, message", [
    (b"", "empty model file"),
    (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "damaged gzip"),
    (b"not json at all", "not a JSON model file"),
    (b"[1, 2, 3]", "does not hold a JSON object"),
    (json.dumps({"format": "something-else"}).encode(), "not a complaints text model"),
])
def test_corrupt_model_bytes(data, message):
    with pytest.raises(ModelLoadError, match=message):
        TextClassifier.from_bytes(data)


def test_truncated_model_file(tmp_path):
    blob = default_model_path().read_bytes()
    path = tmp_path / "truncated.json.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelLoadError, match="damaged gzip"):
        TextClassifier.from_file(path)


def test_wrong_format_version_and_missing_fields(default_document):
    with pytest.raises(ModelLoadError, match="format version 99"):
        TextClassifier.from_bytes(_bytes({**default_document, "format_version": 99}))
    broken = {k: v for k, v in default_document.items() if k != "weights"}
    with pytest.raises(ModelLoadError, match="lacks weights"):
        TextClassifier.from_bytes(_bytes(broken))


def test_altered_numbers_fail_the_checksum(default_document):
    raw = bytearray(base64.b64decode(default_document["weights"]))
    raw[10] ^= 0xFF
    altered = {**default_document, "weights": base64.b64encode(bytes(raw)).decode()}
    with pytest.raises(ModelLoadError, match="checksum"):
        TextClassifier.from_bytes(_bytes(altered))
    with pytest.raises(ModelLoadError, match="checksum"):
        TextClassifier.from_bytes(_bytes({**default_document, "bias": [0.0] * len(default_document["labels"])}))


def test_arrays_of_the_wrong_size_are_refused_even_with_a_matching_checksum(default_document):
    weights = base64.b64encode(base64.b64decode(default_document["weights"])[:-2]).decode()
    numbers = [*default_document["bias"], *default_document["weight_scale"]]
    document = {**default_document, "weights": weights,
                "checksum": clf.checksum(default_document["vocabulary"], default_document["idf"], weights, numbers)}
    with pytest.raises(ModelLoadError, match="expected"):
        TextClassifier.from_bytes(_bytes(document))


def test_bad_labels_and_temperature(default_document):
    with pytest.raises(ModelLoadError, match="labels"):
        TextClassifier.from_bytes(_bytes({**default_document, "labels": ["only_one"]}))
    with pytest.raises(ModelLoadError, match="temperature"):
        TextClassifier.from_bytes(_bytes({**default_document, "temperature": 0}))


class _FakeS3:
    def __init__(self, blobs: dict):
        self.blobs, self.calls = blobs, 0

    def get_object(self, Bucket: str, Key: str):  # noqa: N803 - boto3's spelling
        import io

        self.calls += 1
        if (Bucket, Key) not in self.blobs:
            error = Exception("An error occurred (NoSuchKey)")
            error.response = {"Error": {"Code": "NoSuchKey"}}
            raise error
        return {"Body": io.BytesIO(self.blobs[(Bucket, Key)])}


def test_s3_models_are_fetched_once_per_container_and_failures_are_clear(monkeypatch):
    fake = _FakeS3({("models", "complaints/v2.json.gz"): default_model_path().read_bytes(),
                    ("models", "bad.json.gz"): b"\x1f\x8b broken"})
    monkeypatch.setattr("shared.aws.client", lambda service: fake)
    clf.forget_cached_models()
    try:
        first = load_model("s3://models/complaints/v2.json.gz")
        assert load_model("s3://models/complaints/v2.json.gz") is first and fake.calls == 1
        assert first.version == load_model(None).version
        with pytest.raises(ModelLoadError, match="NoSuchKey"):
            load_model("s3://models/missing.json.gz")
        with pytest.raises(ModelLoadError, match="damaged gzip"):
            load_model("s3://models/bad.json.gz")
        with pytest.raises(ModelLoadError, match="s3://bucket/key"):
            load_model("s3://just-a-bucket")
    finally:
        clf.forget_cached_models()


# -- training round trip on real texts -------------------------------------------------------------------
def _real_sample(per_label: int = 60) -> tuple[list[str], list[str]]:
    from infra.training import read_csv

    path = DATASETS / "shopping_negative_zh" / "dev.csv"
    if not path.is_file():
        pytest.skip(f"real texts not found at {path} (the shared datasets sit beside the repository)")
    data = read_csv(path)
    texts, labels, seen = [], [], {}
    for text, label in zip(data.texts, data.labels):
        if label in ("书籍", "酒店", "水果") and seen.get(label, 0) < per_label:
            seen[label] = seen.get(label, 0) + 1
            texts.append(text)
            labels.append(label)
    return texts, labels


def test_train_save_load_round_trip_on_real_texts(tmp_path):
    pytest.importorskip("sklearn", reason="training needs the 'train' extra")
    from infra.training import TrainSettings, evaluate, save_model, train

    texts, labels = _real_sample()
    document = train(texts[::2], labels[::2], TrainSettings(max_features=5000), name="roundtrip")
    path = save_model(document, tmp_path / "m.json.gz")
    loaded = TextClassifier.from_file(path)
    in_memory = TextClassifier(document)
    assert re.fullmatch(r"roundtrip-\d{8}-[0-9a-f]{8}", loaded.version)
    assert loaded.labels == sorted(set(labels)) and loaded.size <= 5000
    held_texts, held_labels = texts[1::2], labels[1::2]
    assert [loaded.classify(t) for t in held_texts[:20]] == [in_memory.classify(t) for t in held_texts[:20]]
    result = evaluate(loaded, held_texts, held_labels)
    assert result["accuracy"] > 0.8, result
    calibration = document["metrics"]["calibration"]
    assert document["temperature"] > 0 and 0 <= calibration["expected_calibration_error"] < 0.2


def test_training_refuses_data_it_cannot_learn_from():
    pytest.importorskip("sklearn", reason="training needs the 'train' extra")
    from infra.training import TrainingError, train

    with pytest.raises(TrainingError, match="two labels"):
        train(["a", "b"], ["x", "x"])
    with pytest.raises(TrainingError, match="labels"):
        train(["a"], ["x", "y"])


def test_metrics_match_a_hand_count():
    from infra.training import metrics

    result = metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert result["accuracy"] == 0.75
    assert result["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert result["per_class"]["b"]["precision"] == 0.6667
    assert result["confusion"] == {"labels": ["a", "b"], "rows": [[1, 1], [0, 2]]}
    assert result["macro_f1"] == round((0.6667 + 0.8) / 2, 4)
