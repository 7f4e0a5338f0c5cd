"""Induction heads: the copy task, the head scores, ablation, and the chapter's acceptance
criteria on the `fast` run (cached, shared with the book build and nbval)."""

import math

import numpy as np
import pytest
import torch

from acceptance import chapter_run, check, difference, ratio
from emergence.experiments import ConfigError, induction_heads
from emergence.measures import (ablate_head, fastest_fall, icl_score, ov_copying_score,
                                per_position_loss, prefix_matching_score, previous_token_score,
                                plateau_then_drop, stable_before)
from emergence.measures.induction_heads import llc_window_indices, powered_llc_changes, read_head_order
from emergence.models import Transformer, TransformerConfig
from emergence.tasks import CopyTask, repeated_random_tokens


# --- the task -----------------------------------------------------------------------------

def test_copy_task_copies_a_segment_and_marks_what_it_makes_predictable():
    task = CopyTask(vocab=20, seq_len=40, copy_min=5, copy_max=12)
    tokens, predictable = task.sample(200, torch.Generator().manual_seed(0))
    assert tokens.shape == (200, 41) and predictable.shape == (200, 40)
    assert (tokens[:, 0] == task.bos).all() and (tokens[:, 1:] < task.vocab).all()
    lengths = predictable.sum(1) + 1
    assert lengths.min() >= 5 and lengths.max() <= 12
    for b in range(200):
        positions = predictable[b].nonzero().flatten()
        dest, length = int(positions[0]), int(lengths[b])
        assert (positions == torch.arange(dest, dest + length - 1)).all()   # one contiguous run
        copy = tokens[b, dest:dest + length]
        # the copy occurs earlier in full, ending before the copy starts
        sources = [s for s in range(1, dest - length + 1) if torch.equal(tokens[b, s:s + length], copy)]
        assert sources, f"sequence {b}: the copied segment has no source"


def test_periodic_task_repeats_one_block_and_is_predictable_after_it():
    task = CopyTask(vocab=20, seq_len=40, copy_min=4, copy_max=12, periodic=True)
    tokens, predictable = task.sample(100, torch.Generator().manual_seed(2))
    assert tokens.shape == (100, 41) and (tokens[:, 0] == task.bos).all()
    for b in range(100):
        first = int(predictable[b].float().argmax())      # = period + 1
        period = first - 1
        assert 4 <= period <= 12 and predictable[b, first:].all() and not predictable[b, :first].any()
        assert torch.equal(tokens[b, 1 + period:], tokens[b, 1:41 - period])


def test_copy_task_places_copies_at_varied_distances():
    """A fixed distance would let a positional head solve the task without induction."""
    task = CopyTask()
    tokens, predictable = task.sample(500, torch.Generator().manual_seed(1))
    starts = predictable.float().argmax(1)
    assert len(set(starts.tolist())) > 20


def test_skip_bigram_background_follows_its_table_and_leaves_the_copy_uniform():
    task = CopyTask(vocab=20, seq_len=40, copy_min=5, copy_max=12, skip_bigram=3)
    table = task.skip_bigram_table()
    assert table.shape == (20, 3) and all(len(set(row.tolist())) == 3 for row in table)
    tokens, predictable = task.sample(300, torch.Generator().manual_seed(0))
    segment = torch.zeros_like(tokens, dtype=torch.bool)      # the copy and its source
    for b in range(len(tokens)):
        positions = predictable[b].nonzero().flatten()
        dest, length = int(positions[0]), len(positions) + 1
        copied = tokens[b, dest:dest + length]
        sources = [s for s in range(1, dest - length + 1) if torch.equal(tokens[b, s:s + length], copied)]
        assert sources, f"sequence {b}: the copied segment has no source"
        segment[b, dest:dest + length] = True
        segment[b, sources[0]:sources[0] + length] = True
    follows = torch.zeros_like(segment)
    for t in range(3, tokens.shape[1]):
        follows[:, t] = (table[tokens[:, t - 2]] == tokens[:, t, None]).any(1)
    # background tokens whose token two back is background too: always one of the k allowed
    background = ~segment
    background[:, :3] = False
    background[:, 3:] &= ~segment[:, 1:-2]
    assert background.sum() > 1000 and follows[background].all()
    # the segment is uniform: it follows the table about k / vocab = 15 % of the time
    inside = segment.clone()
    inside[:, :3] = False
    assert follows[inside].float().mean() < 0.3


def test_periodic_skip_bigram_block_follows_the_table_and_repeats():
    task = CopyTask(vocab=20, seq_len=40, copy_min=4, copy_max=12, periodic=True, skip_bigram=3)
    table = task.skip_bigram_table()
    tokens, predictable = task.sample(200, torch.Generator().manual_seed(3))
    for b in range(200):
        period = int(predictable[b].float().argmax()) - 1
        block = tokens[b, 1:1 + period]
        assert torch.equal(tokens[b, 1 + period:], tokens[b, 1:41 - period])   # still periodic
        # inside the block, token t is one of the k allowed after the token two back
        assert all(block[t] in table[block[t - 2]] for t in range(2, period))


def test_skip_bigram_background_is_rejected_out_of_range():
    with pytest.raises(ValueError, match="skip_bigram=21"):
        CopyTask(vocab=20, seq_len=40, copy_min=5, copy_max=12, skip_bigram=21)
    with pytest.raises(ConfigError, match="skip_bigram"):
        induction_heads.Config.preset("fast", skip_bigram=65)
    with pytest.raises(ConfigError, match="skip_bigram"):
        induction_heads.Config.preset("fast", skip_bigram=-1)


def test_copy_task_rejects_a_context_too_short_for_two_copies():
    with pytest.raises(ValueError, match="seq_len=40 is too short"):
        CopyTask(seq_len=40, copy_max=32)


def test_repeated_random_tokens_repeat_after_bos():
    probe = repeated_random_tokens(3, 5, 4, 10, torch.Generator().manual_seed(0))
    assert probe.shape == (3, 21) and (probe[:, 0] == 10).all()
    assert torch.equal(probe[:, 1:6], probe[:, 16:21])


# --- the measures ---------------------------------------------------------------------------

def test_previous_token_score_is_one_for_a_previous_token_head_and_low_for_uniform():
    T = 8
    prev = torch.zeros(T, T)
    prev[0, 0] = 1
    prev[torch.arange(1, T), torch.arange(T - 1)] = 1
    uniform = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]
    pattern = torch.stack([prev, uniform])[None, None]                # (E=1, B=1, H=2, T, T)
    score = previous_token_score(pattern)
    assert score[0, 0] == pytest.approx(1.0)
    assert score[0, 1] == pytest.approx(torch.tensor([1 / (i + 1) for i in range(1, T)]).mean().item())


def test_prefix_matching_score_is_one_for_an_induction_head_and_zero_for_previous_token():
    tokens = torch.cat([torch.tensor([50]), torch.arange(6).repeat(3)])[None]   # BOS, 0..5 x 3
    T = tokens.shape[1]
    induction = torch.zeros(T, T)
    for i in range(T):
        induction[i, i - 6 + 1 if i > 6 else 0] = 1                    # the token after the last copy
    prev = torch.zeros(T, T)
    prev[torch.arange(1, T), torch.arange(T - 1)] = 1
    prev[0, 0] = 1
    score = prefix_matching_score(torch.stack([induction, prev])[None, None], tokens)
    assert score[0, 0] == pytest.approx(1.0)
    assert score[0, 1] == pytest.approx(0.0)


def test_copying_score_is_plus_one_for_a_copying_head_and_minus_one_for_an_anti_copying_head():
    V, d, dh = 10, 10, 10
    eye = torch.eye(d)
    W_E, W_U = eye[None], eye[None]
    W_V = torch.stack([eye, eye], dim=1)[None]                        # (1, d, H=2, dh)
    W_O = torch.stack([eye, -eye])[None]                              # (1, H, dh, d)
    score = ov_copying_score(W_E, W_V, W_O, W_U)
    assert score[0].tolist() == pytest.approx([1.0, -1.0])


def test_copying_score_folds_in_the_layernorm_gains():
    # a head whose OV circuit copies in the raw weights, read through LayerNorms with learned gains
    V, d = 8, 8
    g = torch.Generator().manual_seed(0)
    W_E = torch.randn(1, V, d, generator=g)
    W_E = W_E - W_E.mean(-1, keepdim=True)                            # already centred
    W_U = torch.linalg.pinv(W_E[0])[None]                             # W_E W_U = I on the centred space
    W_V = torch.eye(d)[None, :, None]                                 # (1, d, H=1, dh=d)
    W_O = torch.eye(d)[None, None]                                    # (1, H, dh, d)
    assert ov_copying_score(W_E, W_V, W_O, W_U)[0, 0] == pytest.approx(1.0, abs=1e-4)
    # positive gains rescale directions but keep a copying head copying; a negative final gain
    # flips every logit the head writes: an anti-copying head that the raw weights call copying
    assert ov_copying_score(W_E, W_V, W_O, W_U, torch.ones(1, d), torch.ones(1, d))[0, 0] == pytest.approx(1.0, abs=1e-4)
    assert ov_copying_score(W_E, W_V, W_O, W_U, torch.ones(1, d), -torch.ones(1, d))[0, 0] == pytest.approx(-1.0, abs=1e-4)
    # the folded score is the plain score of the folded matrices, computed by hand
    gain_in, gain_out = torch.rand(1, d, generator=g) + 0.5, torch.rand(1, d, generator=g) - 0.2
    W_Vr, W_Or = torch.randn(1, d, 1, 4, generator=g), torch.randn(1, 1, 4, d, generator=g)
    raw = torch.randn(1, V, d, generator=g)
    centre = torch.eye(d) - 1 / d
    by_hand = ov_copying_score((raw @ centre) * gain_in, W_Vr, (W_Or @ centre) * gain_out, W_U)
    assert ov_copying_score(raw, W_Vr, W_Or, W_U, gain_in, gain_out) == pytest.approx(by_hand, abs=1e-5)


def test_icl_score_is_late_minus_early():
    loss = torch.tensor([[[4.0, 4.0, 3.0, 1.0, 1.0]]])                # (E, B, T)
    assert icl_score(loss, (0, 2), (3, 5)).item() == pytest.approx(-3.0)


def test_per_position_loss_matches_cross_entropy():
    logits = torch.randn(2, 3, 5, 7)
    tokens = torch.randint(0, 7, (3, 5))
    loss = per_position_loss(logits, tokens)
    expected = torch.nn.functional.cross_entropy(logits[1, 2, 3], tokens[2, 4])
    assert loss.shape == (2, 3, 4) and loss[1, 2, 3].item() == pytest.approx(expected.item(), rel=1e-5)


def tiny_model(seeds=(0, 1)):
    cfg = TransformerConfig(d_vocab=11, n_ctx=12, d_model=16, n_heads=2, d_head=8, n_layers=2,
                            d_mlp=0, layer_norm=True, embed_std=1.0)
    return Transformer(cfg, list(seeds))


def test_ablating_a_head_with_free_patterns_equals_removing_its_output_weights():
    model = tiny_model()
    tokens = torch.randint(0, 11, (4, 12), generator=torch.Generator().manual_seed(0))
    ablated = ablate_head(model, tokens, layer=0, head=1, freeze_patterns=False)
    with torch.no_grad():
        model.blocks[0].attn.W_O[:, 1] = 0
        expected = model(tokens)
    assert torch.allclose(ablated, expected, atol=1e-5)


def test_frozen_pattern_ablation_of_the_last_layer_is_exact_and_of_layer_one_keeps_later_patterns():
    model = tiny_model()
    tokens = torch.randint(0, 11, (4, 12), generator=torch.Generator().manual_seed(1))
    # in the last layer nothing downstream attends, so frozen and free agree
    assert torch.allclose(ablate_head(model, tokens, 1, 0, True), ablate_head(model, tokens, 1, 0, False))
    # in layer 1 they differ: freeing the patterns lets layer 2 re-route
    assert not torch.allclose(ablate_head(model, tokens, 0, 0, True), ablate_head(model, tokens, 0, 0, False))


def test_evaluating_in_chunks_changes_no_measure(monkeypatch):
    # the `full` batch is evaluated a few sequences at a time to bound memory; the numbers
    # must be those of one pass over the whole batch
    config = induction_heads.Config.preset("fast", vocab=10, seq_len=11, copy_min=2, copy_max=5,
                                           n_heads=2, eval_size=7, n_seeds=2, icl_early=(1, 3),
                                           icl_late=(8, 11), order_seeds=0)
    model = induction_heads.build_model(config, 2, config.seeds)
    data = induction_heads.evaluation_data(config, torch.device("cpu"))
    whole = (induction_heads.measure(model, data, config), induction_heads.ablation_losses(model, data),
             induction_heads.last_layer_ablation_loss(model, data))
    one_sequence = 4 * 2 * 2 * 12 * 12   # bytes of one sequence's patterns: chunks of 1 and 2
    for chunk_bytes in (one_sequence, 2 * one_sequence):
        monkeypatch.setattr(induction_heads, "EVAL_CHUNK_BYTES", chunk_bytes)
        assert len(induction_heads.eval_chunks(model, data["tokens"])) == math.ceil(7 * one_sequence / chunk_bytes)
        chunked = (induction_heads.measure(model, data, config), induction_heads.ablation_losses(model, data),
                   induction_heads.last_layer_ablation_loss(model, data))
        for name in whole[0]:
            assert torch.allclose(chunked[0][name], whole[0][name], atol=1e-5), name
        assert torch.allclose(chunked[1], whole[1], atol=1e-5)
        assert torch.allclose(chunked[2], whole[2], atol=1e-5)


def test_fastest_fall_and_stable_before():
    steps = [0, 10, 20, 30, 40, 50, 60]
    values = [4.6, 4.2, 4.15, 4.1, 3.0, 1.5, 1.2]
    assert fastest_fall(steps, values, 0.5) == (40.0, 50.0)   # 3.0 -> 1.5 in 10 steps
    assert fastest_fall([0, 10, 20], [4, 3.9, 3.8], 0.5) is None
    assert stable_before(steps, values, 30, 0.1) == 20.0         # 4.2 .. 4.1 within 10 % of 4.1


def test_plateau_then_drop_reads_the_criterion_as_written():
    steps = [0, 10, 20, 30, 40, 50, 60, 70]
    # a flat stretch, a slide into the fall, then the fall: the fastest halving (3.0 -> 1.4
    # in 10 steps) has the slide right before it, so no plateau; the halving that starts
    # one log earlier (3.8 -> 1.4 in 20 steps) follows 20 steps within 10 % of 3.8
    values = [4.0, 4.0, 3.9, 3.8, 3.0, 1.4, 1.2, 1.2]
    assert fastest_fall(steps, values, 0.5) == (40.0, 50.0)
    assert stable_before(steps, values, 40, 0.1) == 0.0
    criterion = dict(drop=induction_heads.DROP_FRACTION, plateau=induction_heads.PLATEAU_CHANGE)   # 0.5, 0.1
    assert plateau_then_drop(steps, values, max_window=30, **criterion) == (30.0, 50.0)
    # a window longer than allowed does not count, nor does a drop with no plateau at all
    assert plateau_then_drop(steps, values, max_window=15, **criterion) is None
    assert plateau_then_drop([0, 10, 20], [4.0, 2.0, 1.0], 50, **criterion) is None


def test_config_rejects_bad_settings_by_name():
    with pytest.raises(ConfigError, match="seq_len"):
        induction_heads.Config.preset("fast", seq_len=40)
    with pytest.raises(ConfigError, match="icl_late"):
        induction_heads.Config.preset("fast", icl_late="60,80")
    with pytest.raises(ConfigError, match="n_layers"):
        induction_heads.Config.preset("fast", n_layers=0)
    with pytest.raises(ConfigError, match="embed_std"):
        induction_heads.Config.preset("fast", embed_std=0)
    with pytest.raises(ConfigError, match="warmup"):
        induction_heads.Config.preset("fast", warmup=-1)
    with pytest.raises(ConfigError, match="unknown setting 'layers'"):
        induction_heads.Config.preset("fast", layers=3)


@pytest.mark.parametrize("name, value", [
    ("llc_checkpoints", 1), ("llc_checkpoints", 42), ("llc_chains", 0), ("llc_burnin", -1),
    ("llc_draws", 3), ("llc_epsilon", 0.0), ("llc_gamma", -1.0), ("llc_nbeta", -1.0),
    ("llc_samples", 1), ("llc_batch_size", -1), ("llc_batch_size", 2000)])
def test_config_rejects_bad_llc_settings_by_name(name, value):
    with pytest.raises(ConfigError, match=name):
        induction_heads.Config.preset("fast", **{name: value})


def test_llc_can_be_switched_off_and_uses_every_saved_checkpoint_at_most():
    assert induction_heads.Config.preset("fast", llc_checkpoints=0).llc_checkpoints == 0
    config = induction_heads.Config.preset("fast", llc_checkpoints=41)
    assert len(config.checkpoint_steps()) == 41 and config.checkpoint_steps()[-1] == config.steps


def test_llc_windows_find_the_flat_plateau_and_the_drop():
    loss = np.array([4.5, 4.16, 4.15, 4.16, 4.0, 3.8, 2.0, 1.9, 1.85])
    w = llc_window_indices(loss, start=5, end=6, flat_change=0.02)
    assert w == {"plateau": (1, 3), "sag": (3, 5), "across_drop": (5, 6), "after_drop": (6, 8)}
    assert llc_window_indices(loss, start=3, end=8, flat_change=0.02)["after_drop"] is None


def test_powered_llc_changes_read_each_window_from_fresh_chains_at_its_ends():
    rng = np.random.default_rng(0)
    level = {1: 10.0, 3: 10.0, 5: 12.0, 6: 40.0}
    asked = []

    def estimate(indices):
        asked.append(indices)
        return np.stack([level[i] + np.linspace(-1, 1, 8) + rng.normal(0, 0.01, 8) for i in indices])

    out = powered_llc_changes(estimate, {"plateau": (1, 3), "sag": (3, 5), "across_drop": (5, 6), "after_drop": None})
    assert asked == [[1, 3, 5, 6]]                                   # one batched run
    assert out["after_drop"] is None and out["across_drop"]["sign"] == 1
    assert out["plateau"]["chains"] == [8, 8] and out["plateau"]["sign"] == 0
    assert out["across_drop"]["interval"][0] > 0


def test_head_order_is_read_per_member():
    class Task:
        def __init__(self, k):
            self.skip_bigram = k
    steps = np.arange(0, 101, 10.0)
    ramp = lambda onset: np.where(steps >= onset, 0.9, 0.1)        # noqa: E731
    history = {"step": steps,
               "prev_token": np.stack([ramp(20), ramp(50), ramp(30)], 1),
               "prefix_matching": np.stack([ramp(50), ramp(50), np.full(11, 0.1)], 1),
               "loss_repeat": np.stack([np.where(steps >= 50, 0.5, 2.5)] * 3, 1)}
    rows = read_head_order(history, [(Task(8), 0), (Task(16), 0), (Task(4), 0)], min_prefix=0.3)["members"]
    assert [r["order"] for r in rows] == ["previous-token first", "induction first or together", "no induction head"]
    assert rows[0]["lead"] == 30 and rows[0]["depth"] == pytest.approx(2.0) and rows[2]["depth"] is None
    assert rows[0]["prev_token_at_prefix_onset"] == pytest.approx(0.9)
    assert [b["formed"] for b in read_head_order(history, [(Task(8), 0), (Task(8), 1), (Task(4), 0)],
                                                 min_prefix=0.3)["by_k"]] == [0, 2]


# --- acceptance on the fast run ---------------------------------------------------------------

@pytest.fixture(scope="module")
def run():
    return chapter_run(induction_heads)


def test_every_seed_has_its_phase_change(run):
    for s in run.summary["seeds"]:
        check("the copied-token loss halves (1 = yes)", float(s["drop_start"] is not None), ">=", 1, seed=s["seed"])
    assert run.summary["n_transitioned"] == len(run.summary["seeds"])


def test_the_drop_halves_the_loss_within_a_fifth_of_training(run):
    for s in run.summary["seeds"]:
        check("steps to halve the copied-token loss / training steps", s["drop_fraction_of_training"],
              "<=", 0.2, seed=s["seed"])


def test_a_plateau_then_a_drop(run):
    for s in run.summary["seeds"]:
        # the loss halves within a fifth of training, after changing by < 10 % over a window
        # at least as long before it (the shortest such window is the drop)
        check("plateau then drop (1 = yes)", float(s["plateau_then_drop"]), ">=", 1, seed=s["seed"])
        check("steps within 10 % before the drop / steps of the drop",
              ratio(s["plateau_steps_before_drop"], s["drop_steps"]), ">=", 1, seed=s["seed"])


def test_icl_score_goes_from_near_zero_to_clearly_negative(run):
    for s in run.summary["seeds"]:
        # "near 0": at the last evaluation still at chance, under a tenth of the final score
        check("|ICL score before the drop| / |final ICL score|", ratio(abs(s["icl_score_before"]), abs(s["final_icl_score"])),
              "<=", 0.1, seed=s["seed"])
        check("final ICL score (nats)", s["final_icl_score"], "<", -1.0, seed=s["seed"])


def test_induction_head_ends_strong(run):
    for s in run.summary["seeds"]:
        check("final prefix-matching score", s["prefix_matching_final"], ">=", 0.4, seed=s["seed"])


def test_prefix_matching_triples_across_the_drop(run):
    for s in run.summary["seeds"]:
        # before: the last evaluation still at chance, as for the ICL score.  (At the drop
        # window's first evaluation, already inside the fall, seed 2 reads 0.33 -> 0.95, 2.9x;
        # that reading moves with the logging grid: seed 1 reads 0.26 every 25 steps, 0.40
        # every 10.)  The issue asks for x3; seeds 0-5 rise x7.2-14, so it is raised to x5.
        assert s["step_before_drop"] is not None, s
        check("prefix matching after / before the drop", ratio(s["prefix_matching_after"], s["prefix_matching_before"]),
              ">=", 5, seed=s["seed"])


def test_previous_token_head_has_formed_by_the_drops_midpoint(run):
    for s in run.summary["seeds"]:
        # the thresholds are x3 and 0.4; this run clears them easily (x6.9-10, 0.79-0.84),
        # so they are raised as the issue asks
        check("previous-token score at the drop's midpoint / at the start", s["prev_token_gain_by_midpoint"],
              ">=", 5, seed=s["seed"])
        check("final previous-token score", s["prev_token_final"], ">=", 0.6, seed=s["seed"])


def test_previous_token_head_forms_first_while_the_copied_token_loss_barely_moves(run):
    for s in run.summary["seeds"]:
        # onset: the first evaluation at twice the initial score
        check("prefix-matching onset - previous-token onset (steps)",
              difference(s["prefix_matching_doubled"], s["prev_token_doubled"]), ">=", 50, seed=s["seed"])
        check("end of the drop - prefix-matching onset (steps)", difference(s["drop_end"], s["prefix_matching_doubled"]),
              ">=", 0, seed=s["seed"])
        check("start of the drop - previous-token onset (steps)", difference(s["drop_start"], s["prev_token_doubled"]),
              ">", 0, seed=s["seed"])
        # still within 5 % of chance
        check("copied-token loss at the previous-token onset / at chance", s["loss_repeat_when_prev_token_doubled"],
              ">=", 0.95, seed=s["seed"])


def test_one_layer_control_shows_no_drop(run):
    assert run.summary["control"]
    check("one-layer control: any drop (0 = none)", float(bool(run.summary["control_any_drop"])), "<=", 0,
          seed=[s["seed"] for s in run.summary["seeds"]])


def test_ablating_the_induction_head_undoes_most_of_the_drop(run):
    for s in run.summary["seeds"]:
        check("share of the drop undone by ablating the induction head", s["ablation_share_of_drop"], ">=", 0.5,
              seed=s["seed"])


def test_the_induction_head_copies(run):
    for s in run.summary["seeds"]:
        # the OV copying score with the LayerNorm gains folded in (+1: a pure copying head)
        check("final copying score of the induction head (LayerNorm gains folded in)", s["copying_final"],
              ">=", 0.5, seed=s["seed"])


# --- which head forms first, as the skip-bigram strength k varies ------------------------------

def test_head_order_diagram_covers_every_strength_with_five_seeds(run):
    by_k = {b["k"]: b for b in run.summary["head_order"]["by_k"]}
    assert sorted(by_k) == [4, 8, 12, 16] and all(b["seeds"] >= 5 for b in by_k.values())
    seeds = [m["seed"] for m in run.summary["head_order"]["members"]]
    # the chapter's k = 8 builds the circuit in every seed, the previous-token head further along
    check("k = 8: seeds that built an induction head / seeds", by_k[8]["formed"] / by_k[8]["seeds"], ">=", 1,
          seed=sorted(set(seeds)))


def test_the_stronger_the_statistic_the_further_the_previous_token_head_has_formed(run):
    by_k = {b["k"]: b for b in run.summary["head_order"]["by_k"]}
    seeds = sorted({m["seed"] for m in run.summary["head_order"]["members"]})
    mean = {k: sum(b["prev_token_at_prefix_onset"]) / len(b["prev_token_at_prefix_onset"])
            for k, b in by_k.items() if b["formed"]}
    # previous-token score at the prefix-matching onset, mean over the seeds that built the circuit
    # (seeds 0-4: 0.84, 0.38, 0.22, 0.15 for k = 4, 8, 12, 16; seeds 5-9: 0.61, 0.46, 0.25, 0.14)
    check("k = 8 / k = 16: previous-token score at the prefix-matching onset", ratio(mean[8], mean[16]),
          ">=", 1.5, seed=seeds)
    check("k = 4 / k = 16: previous-token score at the prefix-matching onset", ratio(mean[4], mean[16]),
          ">=", 2, seed=seeds)
    # (k = 4 above k = 8 is reported, not asserted: 2.2x on seeds 0-4, 1.3x on seeds 5-9)
    # (which score completes half its rise first at k = 16 is reported, not asserted: the two
    # half-way points lie within an evaluation or two of each other there)


# --- the local learning coefficient over training (Hoogland et al.'s stages) ----------------

def test_llc_curve_exists_at_the_configured_checkpoints_and_is_finite(run):
    llc, config = run.summary["llc"], run.config
    assert len(llc["steps"]) == config["llc_checkpoints"] == len(llc["mean"]) == len(llc["std"])
    assert llc["steps"][0] == 0 and llc["steps"][-1] == config["steps"]
    assert all(math.isfinite(v) for v in llc["mean"] + llc["std"])


def test_llc_chains_are_healthy_at_most_checkpoints(run):
    llc, seed = run.summary["llc"], run.summary["seeds"][0]["seed"]
    # healthy: at most 20 % of draws below L_n(w*) and no significant drift between the halves
    check("share of healthy LLC checkpoints", llc["n_healthy"] / len(llc["steps"]), ">=", 0.8, seed=seed)
    check("smallest λ̂ at a healthy checkpoint", min(v for v, ok in zip(llc["mean"], llc["healthy"]) if ok),
          ">", 0, seed=seed)


def test_llc_rises_across_the_drop(run):
    # Hoogland et al.'s second stage: the induction circuit completes, the loss falls and λ̂
    # rises.  The sign is read from fresh chains at the window's two ends, with a Welch t-interval.
    drop, seed = run.summary["llc"]["across_drop"], run.summary["seeds"][0]["seed"]
    check("chains at each end of the drop window", min(drop["chains"]), ">=", 8, seed=seed)
    check("relative change of the loss across the drop (LLC checkpoints)", drop["loss_change"], "<", -0.25, seed=seed)
    check("lower end of the 95 % t-interval of Δλ̂ across the drop", drop["interval"][0], ">", 0, seed=seed)
    check("λ̂ after / before the drop", ratio(drop["llc"][1], drop["llc"][0]), ">=", 2, seed=seed)


def test_llc_settings_hold_on_this_model(run):
    llc, seed = run.summary["llc"], run.summary["seeds"][0]["seed"]
    cal = llc["calibration"]
    e, b = cal["epsilon"].index(llc["settings"]["epsilon"]), cal["nbeta"].index(llc["settings"]["nbeta"])
    for at, step in enumerate(cal["steps"]):
        # the chosen step size reads within a quarter of a three times smaller one, healthy at both
        check(f"λ̂ at ε / at ε/3, step {step}", ratio(cal["llc"][at][e][b], cal["llc"][at][e - 1][b]), "<=", 1.25, seed=seed)
        check(f"healthy chains at ε and ε/3, step {step} (1 = yes)",
              float(cal["healthy"][at][e][b] and cal["healthy"][at][e - 1][b]), ">=", 1, seed=seed)
    for noise in llc["gradient_noise"]:
        # minibatch gradient noise per coordinate, (ε/2) nβ std(∇L_b - ∇L_n), against the injected √ε
        check(f"minibatch gradient noise / injected noise, 99th percentile of coordinates, step {noise['step']}",
              noise["p99_ratio"], "<=", 0.25, seed=seed)


@pytest.mark.xfail(strict=True, reason="not reproduced: the previous-token head now starts to form on "
                   "the flat plateau (score 0.05 -> 0.12 over steps 75-300, loss within 1 %), but λ̂ "
                   "does not fall there: with 8 fresh chains at each end it moves +0.35, 95 % interval "
                   "-0.56 to +1.26 (seed 0); it rises (13 -> 24) over the next 150 steps as the head "
                   "sharpens with the loss 5 % lower.  Hoogland et al.'s language model showed a fall "
                   "in this stage")
def test_llc_falls_while_the_previous_token_head_forms_on_a_flat_loss(run):
    plateau, seed = run.summary["llc"]["plateau"], run.summary["seeds"][0]["seed"]
    check("plateau window: |relative change of the loss|", abs(plateau["loss_change"]), "<", 0.02, seed=seed)
    check("plateau window: previous-token score end / start", ratio(plateau["prev_token"][1], plateau["prev_token"][0]),
          ">=", 2, seed=seed)
    # a fall, not noise: 8 fresh chains at each end, the 95 % Welch t-interval below 0
    check("plateau window: chains at each end", min(plateau["chains"]), ">=", 8, seed=seed)
    check("plateau window: upper end of the 95 % t-interval of Δλ̂", plateau["interval"][1], "<", 0, seed=seed)
