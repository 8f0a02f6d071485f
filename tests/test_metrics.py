"""The task metrics give the values their published definitions give, computed by hand here."""

from __future__ import annotations

import math

import pytest

from mmtune.config import parse_config
from mmtune.errors import ConfigError
from mmtune.outputs.metrics import (
    accuracy,
    anls,
    bleu,
    cer,
    corpus_bleu,
    corpus_scores,
    exact_match,
    levenshtein,
    normalize_answer,
    rouge_l,
    row_scores,
    wer,
)


def test_exact_match_ignores_surrounding_space_runs_of_space_and_case_only():
    assert exact_match("  Red   circle\n", "red circle") == 1.0
    assert exact_match("red circle.", "red circle") == 0.0
    assert exact_match("red", "blue") == 0.0


def test_accuracy_is_squad_normalized_match():
    assert normalize_answer("The  Red, circle!") == "red circle"
    assert accuracy("The circle.", "circle") == 1.0
    assert exact_match("The circle.", "circle") == 0.0
    assert accuracy("a square", "circle") == 0.0


def test_levenshtein_counts_insertions_deletions_substitutions():
    assert levenshtein("kitten", "sitting") == 3  # k->s, e->i, +g
    assert levenshtein("", "abc") == 3
    assert levenshtein(["a", "b"], ["a", "b"]) == 0


def test_cer_and_wer_per_row():
    assert cer("kitten", "sitting") == pytest.approx(3 / 7)
    assert wer("the cat sat", "the cat sat down") == pytest.approx(1 / 4)
    assert wer("a x c", "a b c") == pytest.approx(1 / 3)
    assert cer("", "") == 0.0 and cer("a", "") == 1.0


def test_cer_and_wer_over_rows_sum_edits_before_dividing():
    # edits 1 + 1 over 3 + 1 reference characters: 0.5 (the mean of the row rates would be 2/3)
    scores = corpus_scores(["ab", "x"], ["abc", "y"], ["cer", "wer"])
    assert scores["cer"] == pytest.approx(2 / 4)
    assert scores["wer"] == pytest.approx(2 / 2)


def test_rouge_l_is_the_lcs_f_measure():
    # LCS "the cat on the mat" = 5 of 6 tokens on both sides
    assert rouge_l("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(5 / 6)
    # LCS 2: precision 2/4, recall 2/2 -> F1 2/3
    assert rouge_l("a b c d", "A C") == pytest.approx(2 / 3)
    assert rouge_l("x", "y") == 0.0


def test_anls_is_one_minus_normalized_distance_cut_at_one_half():
    assert anls("kitten", "Sitting") == pytest.approx(1 - 3 / 7)
    assert anls(" Circle", "circle ") == 1.0
    assert anls("ab", "ax") == 0.0  # distance 1/2 is not below the 0.5 threshold
    assert anls("abc", "xyz") == 0.0


def test_bleu_matches_papineni_with_brevity_penalty_and_clipping():
    # precisions 4/5, 3/4, 2/3, 1/2; hypothesis 5 words, reference 6: BP = exp(1 - 6/5)
    expected = math.exp(-0.2) * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert corpus_bleu(["a b c d e"], ["a b c d f g"]) == pytest.approx(expected)
    # "the" is clipped to its one occurrence in the reference; orders without matches are smoothed
    # 1 / (2^k * total) (sacrebleu's default 'exp'): 1/4, 1/(2*3), 1/(4*2), 1/(8*1)
    assert corpus_bleu(["the the the the"], ["the cat"]) == pytest.approx((1 / 4 * 1 / 6 * 1 / 8 * 1 / 8) ** 0.25)
    assert corpus_bleu(["x"], ["a b c"]) == 0.0  # nothing matches at any order


def test_bleu_over_rows_sums_counts_and_sentence_bleu_uses_effective_order():
    # counts summed over the rows: 1-grams (4+5)/(5+6), 2-grams (3+3)/(4+5), 3-grams (2+1)/(3+4),
    # 4-grams (1+0)/(2+3); 11 hypothesis words against 12 reference words
    expected = math.exp(1 - 12 / 11) * (9 / 11 * 6 / 9 * 3 / 7 * 1 / 5) ** 0.25
    got = corpus_bleu(["a b c d e", "the cat sat on the mat"], ["a b c d f g", "the cat is on the mat"])
    assert got == pytest.approx(expected)
    # two words: only 1- and 2-grams count; 1/2 and the smoothed 1/(2*1)
    assert bleu("red square", "red circle") == pytest.approx(0.5)
    assert bleu("red circle", "red circle") == 1.0


def test_row_scores_and_corpus_scores_name_only_the_metrics_asked_for():
    assert row_scores("red", "Red", ["loss", "exact_match", "cer"]) == {"exact_match": 1.0, "cer": 1 / 3}
    scores = corpus_scores(["red", "blue"], ["red", "green"], ["exact_match", "anls"])
    assert scores == {"exact_match": 0.5, "anls": 0.5}
    assert corpus_scores([], [], ["exact_match"]) == {}


def test_unknown_metric_name_is_a_config_error_listing_the_valid_ones():
    with pytest.raises(ConfigError) as e:
        parse_config({"base_model": "m", "datasets": [{"path": "d.jsonl"}], "eval_metrics": ["exact_match", "f1"]})
    assert (
        str(e.value)
        == "eval_metrics: unknown metric 'f1'; valid: loss, exact_match, accuracy, rouge_l, bleu, cer, wer, anls"
    )


def test_val_set_size_and_test_datasets_together_are_refused():
    with pytest.raises(ConfigError) as e:
        parse_config(
            {
                "base_model": "m",
                "datasets": [{"path": "d.jsonl"}],
                "val_set_size": 0.1,
                "test_datasets": [{"path": "t"}],
            }
        )
    assert str(e.value) == "val_set_size and test_datasets both choose the held-out rows; set one of them"
