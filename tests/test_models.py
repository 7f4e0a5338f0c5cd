import pytest
import torch

from emergence.models import ModularMLP, Transformer, TransformerConfig


def small_cfg(**kw):
    return TransformerConfig(**{**dict(d_vocab=12, n_ctx=6, d_model=16, n_heads=2, d_head=8,
                                       n_layers=2, d_mlp=32), **kw})


def test_ensemble_members_equal_single_models():
    tokens = torch.randint(0, 12, (5, 6))
    ensemble = Transformer(small_cfg(), seeds=[3, 7])
    for index, seed in enumerate([3, 7]):
        single = Transformer(small_cfg(), seeds=[seed])
        for name, p in single.named_parameters():
            assert torch.equal(p[0], ensemble.member_state(index)[name])
        torch.testing.assert_close(single(tokens)[0], ensemble(tokens)[index])
    pairs = torch.eye(10)[:4]
    mlp, mlp1 = ModularMLP(5, 8, [1, 2]), ModularMLP(5, 8, [2])
    torch.testing.assert_close(mlp(pairs)[1], mlp1(pairs)[0])


@pytest.mark.parametrize("layer_norm, d_mlp", [(False, 32), (True, 0), (True, 32)])
def test_shapes_and_cache(layer_norm, d_mlp):
    model = Transformer(small_cfg(layer_norm=layer_norm, d_mlp=d_mlp), seeds=[0, 1, 2])
    tokens = torch.randint(0, 12, (4, 6))
    logits, cache = model.run_with_cache(tokens)
    assert logits.shape == (3, 4, 6, 12)
    assert cache["blocks.1.attn.hook_pattern"].shape == (3, 4, 2, 6, 6)
    assert cache["blocks.0.attn.hook_z"].shape == (3, 4, 6, 2, 8)
    assert cache["blocks.1.hook_resid_post"].shape == (3, 4, 6, 16)
    assert ("blocks.0.mlp.hook_post" in cache) == bool(d_mlp)
    pattern = cache["blocks.0.attn.hook_pattern"]
    torch.testing.assert_close(pattern.sum(-1), torch.ones(3, 4, 2, 6))
    assert torch.all(pattern.triu(diagonal=1) == 0), "attention must be causal"
    # the residual stream adds up: resid_post = resid_pre + attn_out (+ mlp_out)
    total = cache["blocks.1.hook_resid_pre"] + cache["blocks.1.hook_attn_out"]
    if d_mlp:
        total = total + cache["blocks.1.hook_mlp_out"]
    torch.testing.assert_close(cache["blocks.1.hook_resid_post"], total)


def test_last_position_only_is_exact():
    model = Transformer(small_cfg(), seeds=[0, 1])
    tokens = torch.randint(0, 12, (2, 4, 6))
    torch.testing.assert_close(model(tokens, last_position_only=True), model(tokens)[:, :, -1:])


def test_hooks_can_ablate_a_head():
    model = Transformer(small_cfg(n_layers=1, d_mlp=0), seeds=[0])
    tokens = torch.randint(0, 12, (3, 6))

    def zero_head_1(z):
        z = z.clone()
        z[..., 1, :] = 0
        return z

    _, cache = model.run_with_cache(tokens)
    ablated = model(tokens, hooks={"blocks.0.attn.hook_z": zero_head_1})
    # what remains is head 0's contribution alone
    z0 = cache["blocks.0.attn.hook_z"][..., 0, :]
    head0_out = torch.einsum("ebtd,edm->ebtm", z0, model.blocks[0].attn.W_O[:, 0])
    resid = cache["hook_embed"] + cache["hook_pos_embed"] + head0_out
    torch.testing.assert_close(ablated, resid @ model.unembed.W_U[0])


def test_bad_inputs_are_rejected():
    model = Transformer(small_cfg(), seeds=[0, 1])
    with pytest.raises(ValueError, match="n_ctx"):
        model(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="tokens must be"):
        model(torch.zeros(3, 1, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="act="):
        small_cfg(act="tanh")


def test_member_is_a_frozen_ensemble_of_one_with_that_members_weights():
    from emergence.models import PersonaMLP, member_of
    model = PersonaMLP(n_personas=5, n_questions=4, n_answers=8, embed=3, width=6, depth=2, seeds=[7, 8, 9])
    one = model.member(1)
    assert one.seeds == [8] and one.n_models == 1
    for (name, p), (_, q) in zip(model.named_parameters(), one.named_parameters()):
        assert q.shape == (1, *p.shape[1:]) and torch.equal(q[0], p[1].detach()) and not q.requires_grad
        assert p.requires_grad                                       # the ensemble itself is untouched
    persona, question = torch.tensor([0, 4]), torch.tensor([1, 3])
    torch.testing.assert_close(one(persona, question)[0], model(persona, question)[1])
    assert member_of(dict(model.named_parameters()), 2).keys() == model.member_state(2).keys()
