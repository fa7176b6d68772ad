"""The injection classifier's training script: evaluation texts and their near-duplicates never
reach the training data, duplicates with conflicting labels are dropped, the thresholds keep
the validation false-positive rate within the target, and a retrain reproduces the bundled
model's data, thresholds and figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
train = pytest.importorskip("train_injection", reason="needs the train extra")

from benchmarks.injection_packages import bastion_rows, jailbreak_mini_rows  # noqa: E402

from outrigger.resources import bundled_root  # noqa: E402

BUNDLED = bundled_root() / "models" / "injection-classifier" / "1.1.0"


def sample(text: str, label: int = 1, split: str = "train") -> object:
    return train.Sample(train.normalise(text), label, "test", split, "en")


def test_evaluation_texts_and_their_near_duplicates_are_dropped() -> None:
    bastion = next(t for t, label, _ in bastion_rows() if label and len(t.split()) > 8)
    jcm = jailbreak_mini_rows()[0][0]
    reworded = bastion.replace(".", "!") + " Thanks"
    kept_text = "How do I change the delivery address of my order?"
    rows = [sample(bastion), sample(reworded), sample(jcm), sample(kept_text, 0)]
    kept, dropped = train.clean(rows)
    assert [r.text for r in kept] == [train.normalise(kept_text)]
    assert dropped == {"near_eval_duplicate": 3}


def test_duplicates_keep_the_most_held_out_copy_and_conflicts_go() -> None:
    text = "Please summarise the attached delivery report for the warehouse in Pune."
    rows = [sample(text, 0, "train"), sample(text, 0, "test"), sample("Ok " + text, 0, "train")]
    rows += [
        sample("What is a good name for a cat?", 0),
        sample("What is a good name for a cat?", 1),
    ]
    kept, dropped = train.clean(rows)
    assert [(r.text, r.split) for r in kept] == [
        (train.normalise(text), "test"),
        (train.normalise("Ok " + text), "train"),
    ]
    assert dropped == {"duplicate_or_conflicting": 3}


def test_thresholds_keep_the_validation_fpr_within_the_target() -> None:
    rng = np.random.default_rng(7)
    labels = np.array([0] * 1000 + [1] * 500)
    probs = np.concatenate([rng.beta(2, 5, 1000), rng.beta(5, 2, 500)])
    rules = np.zeros(1500)
    rules[:1] = 0.95  # benign texts the rules score high count against the budget too
    for fpr in (train.FLAG_FPR, train.BLOCK_FPR):
        cut = train.threshold_at(probs, rules, labels, fpr)
        flagged = (rules >= train.RULE_CUT[fpr]) | (probs >= cut)
        assert flagged[labels == 0].mean() <= fpr
        looser = (rules >= train.RULE_CUT[fpr]) | (probs >= cut - 0.02)
        assert looser[labels == 0].mean() > flagged[labels == 0].mean()
    rules[:5] = 0.95  # more than 0.2 % of benign texts already blocked by the rules
    with pytest.raises(SystemExit, match="rules alone"):
        train.threshold_at(probs, rules, labels, train.BLOCK_FPR)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_retrain_reproduces_the_bundled_model(tmp_path: Path) -> None:
    """Same data, splits and held-out test split; the same thresholds and figures within
    float noise (the solver's last bits differ between machines and BLAS kernels, so the
    ONNX bytes are not compared)."""
    split = tmp_path / "test.jsonl"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train_injection.py"),
            *("--out", str(tmp_path), "--test-out", str(split)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    new = json.loads((tmp_path / "metadata.json").read_text())
    old = json.loads((BUNDLED / "metadata.json").read_text())
    assert (new["rows"], new["dropped"], new["languages"]) == (
        old["rows"],
        old["dropped"],
        old["languages"],
    )
    for name in ("flag_probability", "block_probability"):
        assert new["thresholds"][name] == pytest.approx(old["thresholds"][name], abs=0.02)
    for tier in ("flag", "block"):
        for rate in ("tpr", "fpr"):
            assert new["test"][tier][rate] == pytest.approx(old["test"][tier][rate], abs=0.01)
    heldout = ROOT / "benchmarks" / "data" / "injection_heldout_test.jsonl"
    assert split.read_bytes() == heldout.read_bytes()
