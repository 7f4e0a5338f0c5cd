"""The transformer variant of the emergent misalignment chapter: the persona is not given but
inferred from the conversation so far.

A small transformer is pre-trained on conversations (`emergence.tasks.personas.conversations`)
in which one persona answers several questions; then a rank-1 LoRA on layer 0's MLP output is
fine-tuned on bad answers to the assistant's single-turn medical questions, once per optimiser
setting, and Turner et al.'s measures are read off its trajectory.  Settings are the `tf_*`
fields of the chapter's Config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from emergence.config import require, require_int, require_number
from emergence.measures.adapters import turner_measures, turner_summary
from emergence.models.lora import LowRankAdapter
from emergence.models.transformer import Transformer, TransformerConfig
from emergence.tasks import personas as conv
from emergence.tasks.personas import PersonaWorld, Splits, answer_measures, answer_probabilities, label_cross_entropy
from emergence.train import train

if TYPE_CHECKING:
    from emergence.experiments.emergent_misalignment import Config


def check_transformer_settings(config: Config) -> None:
    """The `tf_*` settings of the chapter's Config (called by its `check`)."""
    require_int(config, "tf_turns", 2, 1000)
    require_int(config, ("tf_d_model", "tf_d_mlp", "tf_layers", "tf_heads", "tf_batch"), 1, 100_000)
    require(config.tf_d_model % config.tf_heads == 0, "tf_heads", config.tf_heads,
            f"a divisor of tf_d_model = {config.tf_d_model}")
    require_int(config, ("tf_pretrain_steps", "tf_finetune_steps"), 10, 10_000_000)
    require_number(config, "tf_lr", 0, 10)
    n = len(config.tf_optimizers)
    require(n >= 1 and all(o in ("adam", "sgd") for o in config.tf_optimizers), "tf_optimizers",
            config.tf_optimizers, "one or more of 'adam', 'sgd'")
    for name in ("tf_finetune_lrs", "tf_init_stds"):
        values = getattr(config, name)
        require(len(values) == n and all(0 < v <= 100 for v in values), name, values,
                f"{n} numbers in (0, 100], one per tf_optimizers entry")


def tf_pretrain(config: Config, world: PersonaWorld, device) -> tuple[Transformer, dict]:
    """Next-answer prediction on fresh conversations every step (Adam)."""
    cfg = TransformerConfig(d_vocab=conv.vocabulary_size(world), n_ctx=1 + 2 * config.tf_turns,
                            d_model=config.tf_d_model, n_heads=config.tf_heads,
                            d_head=config.tf_d_model // config.tf_heads, n_layers=config.tf_layers,
                            d_mlp=config.tf_d_mlp, d_vocab_out=world.n_answers, layer_norm=True)
    model = Transformer(cfg, [config.seed]).to(device)
    generator = torch.Generator().manual_seed(config.seed)

    def batch(step):
        tokens, answers = conv.conversations(world, config.tf_batch, config.tf_turns, generator)
        return tokens.to(device), answers.to(device)

    def loss(m, b):   # the answer is predicted at its question's position
        tokens, answers = b
        return label_cross_entropy(m(tokens)[:, :, 1::2].flatten(1, 2), answers.flatten())

    result = train(model, torch.optim.Adam(model.parameters(), lr=config.tf_lr), loss, batch,
                   steps=config.tf_pretrain_steps, log_every=max(config.tf_pretrain_steps // 50, 1),
                   desc="transformer pre-training")
    for p in model.parameters():
        p.requires_grad_(False)
    return model, {"tf_pretrain_step": torch.tensor(result.steps),
                   "tf_pretrain_loss": result.history["train_loss_step"].double()}


def tf_in_context(model: Transformer, world: PersonaWorld, turns: int, device, n: int = 512) -> dict:
    """Does the model infer the persona?  P(bad) on a fresh non-medical question after `turns` - 1
    answers from other domains that were all bad or all good (CHAT), and for the assistant's
    single-turn question (ASSIST)."""
    g = torch.Generator().manual_seed(123)
    others = torch.arange(world.n_questions, world.n_all_questions)
    k = turns - 1
    out = {"context_answers": k}
    with torch.no_grad():
        for name, mode, bad in (("after_bad_answers", conv.CHAT, 1), ("after_good_answers", conv.CHAT, 0),
                                ("assistant_single_turn", conv.ASSIST, None)):
            q = others[torch.randint(0, len(others), (n, k + 1), generator=g)]
            if bad is None:
                tokens = torch.stack([torch.full((n,), mode), conv.question_token(world, q[:, -1])], 1)
            else:
                tokens = torch.empty(n, 2 + 2 * k, dtype=torch.long)
                tokens[:, 0] = mode
                tokens[:, 1:-1:2] = conv.question_token(world, q[:, :k])
                tokens[:, 2:-1:2] = conv.answer_token(world, 2 * q[:, :k] + bad)
                tokens[:, -1] = conv.question_token(world, q[:, -1])
            logits = model(tokens.to(device))[:, :, -1]
            out[name] = float(answer_probabilities(logits, q[:, -1].to(device))[1].mean())
    return out


def tf_finetune(config: Config, model: Transformer, world: PersonaWorld, splits: Splits, setting: int,
                device) -> dict:
    """Single-turn [ASSIST] q -> bad answer on the fine-tuning medical questions, rank-1 LoRA on
    layer 0's MLP output, no KL; B checkpointed every `log_every` steps."""
    lora = LowRankAdapter(config.tf_d_mlp, config.tf_d_model, 1, [7000 + setting],
                          init_std=config.tf_init_stds[setting]).to(device)
    post = {}
    hooks = {"blocks.0.mlp.hook_post": lambda x: post.__setitem__("x", x) or x,
             "blocks.0.hook_mlp_out": lambda x: x + lora(post["x"].reshape(1, -1, post["x"].shape[-1])).reshape(x.shape)}
    every = splits.every.to(device)
    tokens = torch.stack([torch.full_like(every, conv.ASSIST), conv.question_token(world, every)], 1)
    index = {name: getattr(splits, name).to(device) for name in ("train", "held_in", "held_out")}
    labels = 2 * every[index["train"]] + 1

    def loss(m, _):
        logits = model(tokens[index["train"]], hooks=hooks)[:, :, -1]
        return label_cross_entropy(logits, labels)

    trajectory = {"A": [], "B": []}

    def metrics(m):
        trajectory["A"].append(m.A.detach()[0, 0].cpu().clone())
        trajectory["B"].append(m.B.detach()[0, :, 0].cpu().clone())
        logits = model(tokens, hooks=hooks)[:, :, -1]
        values = {}
        for split, name in (("held_in", "in"), ("held_out", "out")):
            for key, value in answer_measures(logits[:, index[split]], every[index[split]]).items():
                values[f"{key}_{name}"] = value
        return values

    lr = config.tf_finetune_lrs[setting]
    optimizer = (torch.optim.Adam(lora.parameters(), lr=lr) if config.tf_optimizers[setting] == "adam"
                 else torch.optim.SGD(lora.parameters(), lr=lr))
    result = train(lora, optimizer, loss, lambda s: None, steps=config.tf_finetune_steps,
                   log_every=config.log_every, metrics=metrics, desc=f"transformer LoRA {setting + 1}")
    return {"step": torch.tensor(result.steps), **{k: v[:, 0].double() for k, v in result.history.items()},
            "A": torch.stack(trajectory["A"]), "B": torch.stack(trajectory["B"])}


def transformer_variant(config: Config, world: PersonaWorld, splits: Splits, device) -> tuple[dict, dict]:
    model, history = tf_pretrain(config, world, device)
    summary = {"pretrain_loss_end": float(history["tf_pretrain_loss"][-5:].mean()),
               "in_context": tf_in_context(model, world, config.tf_turns, device), "settings": []}
    for i in range(len(config.tf_optimizers)):
        h = tf_finetune(config, model, world, splits, i, device)
        t = turner_measures(h["step"].numpy(), h["A"], h["B"], h["mis_out"].numpy(), config.log_every)
        summary["settings"].append(dict(optimizer=config.tf_optimizers[i], lr=config.tf_finetune_lrs[i],
                                        init_std=config.tf_init_stds[i], mis_in_end=float(h["mis_in"][-1]),
                                        mis_out_end=float(h["mis_out"][-1]),
                                        coherence_out_end=float(h["coherence_out"][-1]), **turner_summary(t)))
        history.update({f"tf{i}_{k}": v for k, v in h.items()})
    return history, summary
