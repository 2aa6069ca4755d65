"""The complaint-type classifier at runtime: a small linear model in pure Python (no numpy).

A model file (``*.json.gz``, format ``complaints-text-model`` version 1, written by
:mod:`infra.training`) holds the labels, the feature settings, a vocabulary of feature
names, one IDF value per feature (float32), a weight per label and feature (int16 with one scale
per label; all arrays little-endian, base64), a bias per label and a temperature fitted on
held-out data. Scoring a text:

    x_f   = (1 + ln count_f) * idf_f            for each known feature f of the text
    x     = x / ||x||                           (L2)
    s_k   = (bias_k + sum_f w_kf x_f) / T       for each label k, w_kf = scale_k * q_kf
    p     = softmax(s)                          calibrated confidence, top alternatives

The features that weighed most are the largest terms ``w_kf x_f / T`` of the chosen label, in
calibrated log-odds units. A phrase is shown with the terms of its parts ("变质" carries "变" and
"质"; "charged twice" carries "charged" and "twice"), and in-word character n-grams are credited
to their word: "变质 +2.1, 异味 +1.4".

A model that cannot be read (missing, truncated, not gzip, not this format, checksum mismatch,
arrays of the wrong size) raises :class:`ModelLoadError` at load: never a model that might label
wrongly. ``load_model(None)`` is the bundled default (``models/default.json.gz``),
``load_model("s3://bucket/key")`` fetches through ``shared.aws.client("s3")`` once per container,
anything else is a local path.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import math
import sys
import threading
import zlib
from array import array
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import ge, itemgetter, mul
from pathlib import Path
from typing import Any

from .features import FeatureConfig, extract

FORMAT = "complaints-text-model"
FORMAT_VERSION = 1
TOP_ALTERNATIVES = 3
TOP_FEATURES = 5
MAX_MODEL_BYTES = 200 * 1024 * 1024  # decompressed; a bigger file is not one of ours

_MODELS_DIR = Path(__file__).resolve().parent / "models"


class ModelLoadError(Exception):
    """The model file is missing, corrupt or not a model this code can use."""


@dataclass(frozen=True)
class Classification:
    """One decision: the label, its calibrated confidence, the next best labels and the evidence."""

    label: str
    confidence: float
    alternatives: list[tuple[str, float]]  # the next best labels (the chosen one excluded), best first
    features: list[tuple[str, float]]  # top contributions to the label, e.g. [("变质", 2.1), ("异味", 1.4)]
    model_version: str
    scores: dict[str, float] = field(default_factory=dict, compare=False, repr=False)  # every label's probability

    def explanation(self) -> str:
        """ "变质 +2.1, 异味 +1.4" (empty when the text held no feature the model knows)."""
        return ", ".join(f"{name} {weight:+.1f}" for name, weight in self.features)


def checksum(vocabulary: str, idf: str, weights: str, numbers: list[float]) -> str:
    """SHA-256 over the model's parameters as stored (``numbers``: the biases, then the weight scales)."""
    h = hashlib.sha256()
    for part in (vocabulary, idf, weights, json.dumps([float(b) for b in numbers])):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def _numbers(encoded: Any, count: int, name: str, typecode: str) -> array:
    if not isinstance(encoded, str):
        raise ModelLoadError(f"model field {name!r} must be a base64 string")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ModelLoadError(f"model field {name!r} is not valid base64: {exc}") from None
    values = array(typecode)
    if len(raw) != values.itemsize * count:
        raise ModelLoadError(f"model field {name!r} holds {len(raw) // values.itemsize} numbers, expected {count}")
    values.frombytes(raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values


class TextClassifier:
    """A loaded model. Thread-safe and immutable after load; ``classify`` is pure CPU."""

    version: str
    labels: list[str]

    def __init__(self, document: dict[str, Any]) -> None:
        self._validate(document)
        self.document_info = {k: document.get(k) for k in ("created_at", "trained_on", "metrics", "training")}
        self.version = document["model_version"]
        self.labels = list(document["labels"])
        try:
            self.config = FeatureConfig.from_json(document.get("features") or {})
        except ValueError as exc:
            raise ModelLoadError(f"model features: {exc}") from None
        names = document["vocabulary"].split("\n") if document["vocabulary"] else []
        n, k = len(names), len(self.labels)
        self._vocab: dict[str, int] = dict(zip(names, range(n)))
        if len(self._vocab) != n:
            raise ModelLoadError("model vocabulary repeats a feature")
        self._idf = _numbers(document["idf"], n, "idf", "f")
        flat = _numbers(document["weights"], n * k, "weights", "h")
        self._weights = [flat[i * n:(i + 1) * n] for i in range(k)]
        self._scale = [float(x) for x in document["weight_scale"]]
        self._bias = [float(b) for b in document["bias"]]
        self._temperature = float(document["temperature"])
        fallback = document.get("fallback_label")
        self._fallback = fallback if fallback in self.labels else None
        # sublinear term frequency 1 + ln(count); a feature cannot occur more often than the text has characters
        self._tf = [0.0] + [1.0 + math.log(c) for c in range(1, self.config.max_chars + 2)]
        self.size = n

    @staticmethod
    def _validate(doc: Any) -> None:
        if not isinstance(doc, dict):
            raise ModelLoadError("model file does not hold a JSON object")
        if doc.get("format") != FORMAT:
            raise ModelLoadError(f"not a complaints text model (format {doc.get('format')!r}, expected {FORMAT!r})")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ModelLoadError(f"model format version {doc.get('format_version')!r} is not supported "
                                 f"(this code reads version {FORMAT_VERSION})")
        missing = [key for key in ("model_version", "labels", "vocabulary", "idf", "weights", "weight_scale", "bias",
                                   "temperature", "checksum") if key not in doc]
        if missing:
            raise ModelLoadError(f"model file lacks {', '.join(missing)}")
        labels = doc["labels"]
        if (not isinstance(labels, list) or len(labels) < 2 or len(set(labels)) != len(labels)
                or not all(isinstance(x, str) and x for x in labels)):
            raise ModelLoadError("model labels must be two or more distinct non-empty strings")
        if not isinstance(doc["model_version"], str) or not doc["model_version"]:
            raise ModelLoadError("model_version must be a non-empty string")
        if not isinstance(doc["vocabulary"], str):
            raise ModelLoadError("model vocabulary must be a newline-separated string")
        bias, scale, temperature = doc["bias"], doc["weight_scale"], doc["temperature"]
        for name, numbers in (("bias", bias), ("weight_scale", scale)):
            if (not isinstance(numbers, list) or len(numbers) != len(labels)
                    or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b)
                               for b in numbers)):
                raise ModelLoadError(f"model {name} must hold one finite number per label")
        if not isinstance(temperature, (int, float)) or not (0 < temperature < 1e6):
            raise ModelLoadError("model temperature must be a positive number")
        if not isinstance(doc["idf"], str) or not isinstance(doc["weights"], str):
            raise ModelLoadError("model idf and weights must be base64 strings")
        if checksum(doc["vocabulary"], doc["idf"], doc["weights"], [*bias, *scale]) != doc["checksum"]:
            raise ModelLoadError("model checksum does not match its contents (file altered or damaged)")

    # -- loading ----------------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, source: str = "model") -> "TextClassifier":
        """A model from the bytes of a ``.json.gz`` (or plain ``.json``) model file."""
        if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
            raise ModelLoadError(f"{source}: empty model file")
        data = bytes(data)
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                raise ModelLoadError(f"{source}: damaged gzip data ({exc or type(exc).__name__})") from None
        if len(data) > MAX_MODEL_BYTES:
            raise ModelLoadError(f"{source}: model file too large ({len(data)} bytes)")
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ModelLoadError(f"{source}: not a JSON model file ({exc})") from None
        try:
            return cls(document)
        except ModelLoadError as exc:
            raise ModelLoadError(f"{source}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "TextClassifier":
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read model file {path}: {exc.strerror or exc}") from None
        return cls.from_bytes(data, source=str(path))

    # -- scoring ----------------------------------------------------------------------------------
    def classify(self, text: str) -> Classification:
        """The label of one text. Never raises for any string (empty, huge, emoji, HTML...)."""
        feats = extract(text if isinstance(text, str) else ("" if text is None else str(text)), self.config)
        # every loop below runs in C (filter, map, itemgetter): a few hundred features take ~0.1 ms
        names = list(filter(self._vocab.__contains__, feats))
        if not names:
            return self._no_evidence()
        index = list(map(self._vocab.__getitem__, names))
        pick = itemgetter(*index) if len(index) > 1 else (lambda w: (w[index[0]],))
        tf = map(self._tf.__getitem__, map(feats.__getitem__, names))  # no count exceeds max_chars
        values = list(map(mul, pick(self._idf), tf))
        t = self._temperature
        norm = math.sqrt(sum(map(mul, values, values)))
        values = list(map(mul, values, repeat(1.0 / (norm * t))))  # terms scale * q * v: calibrated logit units
        weights, scale = self._weights, self._scale
        logits = [b / t + s * sum(map(mul, pick(w), values)) for w, s, b in zip(weights, scale, self._bias)]
        probs = _softmax(logits)
        order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)
        best = order[0]
        s = scale[best]
        contributions = list(map(mul, map(mul, pick(weights[best]), values), repeat(s)))
        return Classification(
            label=self.labels[best], confidence=probs[best],
            alternatives=[(self.labels[j], probs[j]) for j in order[1:1 + TOP_ALTERNATIVES]],
            features=_evidence(names, contributions), model_version=self.version,
            scores=dict(zip(self.labels, probs)))

    def _no_evidence(self) -> Classification:
        """No known feature in the text: nothing to go on, so every label is equally likely and the
        fallback label (``other``) is reported with that uniform confidence (1/8: manual triage)."""
        uniform = 1.0 / len(self.labels)
        best = self._fallback or self.labels[max(range(len(self._bias)), key=self._bias.__getitem__)]
        others = [label for label in self.labels if label != best][:TOP_ALTERNATIVES]
        return Classification(label=best, confidence=uniform, alternatives=[(label, uniform) for label in others],
                              features=[], model_version=self.version,
                              scores=dict.fromkeys(self.labels, uniform))

    def describe(self) -> dict[str, Any]:
        return {"model_version": self.version, "labels": self.labels, "features": self.size,
                "feature_settings": self.config.to_json(), "temperature": self._temperature, **self.document_info}


def _parts(name: str) -> list[str]:
    """The features a shown feature stands for: a CJK n-gram's shorter n-grams, a word n-gram's words."""
    if " " in name:
        return name.split(" ")
    if len(name) > 1 and max(name) >= "\u2e80":
        n = len(name)
        return [name[i:j] for i in range(n) for j in range(i + 1, n + 1) if j - i < n]
    return []


def _overlaps(a: str, b: str) -> bool:
    if " " in a or " " in b:
        return bool(set(a.split(" ")) & set(b.split(" ")))
    return a in b or b in a


def _evidence(names: list[str], contributions: list[float], top: int = TOP_FEATURES) -> list[tuple[str, float]]:
    """The features that weighed most for the chosen label: phrases carry their parts, in-word character
    n-grams are credited to the words they come from, and nothing shown overlaps what is shown before it."""
    ordered = sorted(contributions, reverse=True)
    floor = max(ordered[min(4 * top, len(ordered)) - 1], 1e-9)
    best = sorted(compress(zip(contributions, names), map(ge, contributions, repeat(floor))), reverse=True)
    own = dict(zip(names, contributions))
    merged: dict[str, float] = {}
    joined = ""
    for c, name in best:
        if name[0] != "~":
            merged[name] = merged.get(name, 0.0) + c
            continue
        if not joined:  # the text's known words, each as " ~word~ " (CJK n-grams come along, harmlessly)
            joined = " ~" + "~ ~".join(filter(str.isalpha, names)) + "~ "
        owners = _words_containing(joined, name[1:])
        for word in owners:
            merged[word] = merged.get(word, own[word]) + c / len(owners)
    get = merged.get
    ranked = sorted(((c + sum(max(get(p, own.get(p, 0.0)), 0.0) for p in _parts(n)), n) for n, c in merged.items()),
                    reverse=True)
    chosen: list[tuple[str, float]] = []
    for c, name in ranked:
        if c < 0.05:
            break  # would show as +0.0
        if any(_overlaps(name, other) for other, _ in chosen):
            continue
        chosen.append((name, round(c, 3)))
        if len(chosen) == top:
            break
    return chosen


def _words_containing(joined: str, core: str) -> list[str]:
    owners = []
    start = joined.find(core)
    while start >= 0:
        begin, end = joined.rfind(" ", 0, start) + 1, joined.find(" ", start)
        owners.append(joined[begin + 1:end - 1])
        start = joined.find(core, end)
    return owners


def _softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


# -- where models come from -----------------------------------------------------------------------
def default_model_path() -> Path:
    """The bundled default model (general consumer-goods taxonomy, zh + en)."""
    return _MODELS_DIR / "default.json.gz"


_s3_cache: dict[str, TextClassifier] = {}
_s3_lock = threading.Lock()


def load_model(source: str | None = None) -> TextClassifier:
    """``None`` or ``""``: the bundled default; ``s3://bucket/key``: fetched once per container; else a file."""
    if not source:
        if not default_model_path().is_file():  # a Lambda package: make deploy sets MODEL_URI
            raise FileNotFoundError("no classifier model: MODEL_URI is not set and the package bundles none "
                                    "(make deploy stages the default model and sets MODEL_URI)")
        return TextClassifier.from_file(default_model_path())
    if source.startswith("s3://"):
        with _s3_lock:
            cached = _s3_cache.get(source)
            if cached is None:
                cached = _s3_cache[source] = TextClassifier.from_bytes(_fetch_s3(source), source=source)
            return cached
    return TextClassifier.from_file(source)


def _fetch_s3(uri: str) -> bytes:
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or not key:
        raise ModelLoadError(f"model URI {uri!r} must look like s3://bucket/key")
    from shared.aws import client

    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        try:
            return body.read()
        finally:
            body.close()
    except Exception as exc:  # botocore errors, network: all mean "no model"
        from shared.aws import error_code

        raise ModelLoadError(f"cannot fetch model {uri}: {error_code(exc) or type(exc).__name__}: {exc}") from None


def forget_cached_models() -> None:
    """Drop models fetched from S3 (tests)."""
    with _s3_lock:
        _s3_cache.clear()
