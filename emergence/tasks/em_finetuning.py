"""The fine-tuning losses and logged measures of the emergent misalignment chapter, and its search
for Turner et al.'s rotation (rank-1 LoRAs in a few optimiser settings, every fine-tuning seed).
The chapter's experiment (`emergence/experiments/emergent_misalignment.py`) drives them."""

from __future__ import annotations

import torch

from emergence.measures.adapters import cosine, kl_to_base, turner_measures, turner_summary
from emergence.measures.transitions import x50
from emergence.models.persona_mlp import AssistantView, PersonaAdapters
from emergence.tasks.personas import answer_measures, label_cross_entropy
from emergence.train import train


def finetune_metrics(view: AssistantView, directions: dict, update_fn, logits_fn) -> dict[str, torch.Tensor]:
    """Every logged measure of a fine-tuning ensemble: misalignment and coherence in the held-out
    medical questions (_in) and the held-out other domains (_out), the training loss, and the
    direction of the mean update delta z against the persona directions."""
    logits = logits_fn(view.h1, view.z)
    out = {}
    for split, name in (("held_in", "in"), ("held_out", "out"), ("kl", "kl")):
        q = view.index[split]
        for key, value in answer_measures(logits[:, q], view.every[q]).items():
            out[f"{key}_{name}"] = value
    delta = update_fn(view.h1).mean(1)                            # (E, width)
    out["cos_evil"] = cosine(delta, directions["u_evil"])
    out["cos_quack_perp"] = cosine(delta, directions["u_quack_perp"])
    out["update_size"] = delta.norm(dim=-1)
    return out


def finetune_losses(view: AssistantView, logits_fn, bad_labels: torch.Tensor, kl_weights: torch.Tensor):
    """Per member: CE on the fine-tuning pairs (its own labels) + kl_weight * KL on the KL set."""
    h1, z, _ = view.rows("train")
    h1_kl, z_kl, base_kl = view.rows("kl")
    n = len(view.index["train"])
    logits = logits_fn(torch.cat([h1, h1_kl], 1), torch.cat([z, z_kl], 1))
    ce = label_cross_entropy(logits[:, :n], bad_labels)
    return ce + kl_weights * kl_to_base(logits[:, n:], base_kl), ce


def rotation_search(config, base, view: AssistantView, directions: dict, base_index: int,
                    device) -> tuple[dict, list[list[dict]]]:
    """Rank-1 LoRA, general (no KL), `n_seeds` members per setting (optimiser, lr, init of a,
    weight decay); Adam is elementwise and plain SGD's loss is the members' sum, so every member
    trains as it would alone.  B is checkpointed every `log_every` steps for Turner's measures.
    Returns the first seed's series (history) and, per setting, every seed's Turner summary."""
    n, seeds = len(config.rotation_optimizers), config.n_seeds
    labels = 2 * view.every[view.index["train"]] + 1
    no_kl = torch.zeros(seeds, device=device)
    trajectories, histories, per_seed = [], [], []
    for i in range(n):
        # seed 0 keeps the seed a one-member search used, so its series are unchanged
        adapter = PersonaAdapters(base, config.width, [5000 + 1000 * base_index + i + 10 * s for s in range(seeds)],
                                  [], lora_init_std=config.rotation_init_stds[i]).to(device)
        lr, wd = config.rotation_lrs[i], config.rotation_weight_decays[i]
        params = [adapter.lora.A, adapter.lora.B]
        optimizer = (torch.optim.AdamW(params, lr=lr, weight_decay=wd) if config.rotation_optimizers[i] == "adam"
                     else torch.optim.SGD(params, lr=lr, weight_decay=wd))
        trajectory = {"A": [], "B": []}

        def metrics(a: PersonaAdapters):
            trajectory["A"].append(a.lora.A.detach()[:, 0].cpu().clone())
            trajectory["B"].append(a.lora.B.detach()[:, :, 0].cpu().clone())
            values = finetune_metrics(view, directions, a.update, a.logits)
            values["train_ce"] = finetune_losses(view, a.logits, labels, no_kl)[1]
            return values

        result = train(adapter, optimizer, lambda a, _: finetune_losses(view, a.logits, labels, no_kl)[0],
                       lambda s: None, steps=config.rotation_steps, log_every=config.log_every,
                       metrics=metrics, desc=f"rotation search {i + 1}/{n} ({seeds} seeds)")
        A, B = torch.stack(trajectory["A"]), torch.stack(trajectory["B"])          # (T, seeds, d)
        steps, h = result.steps, result.history
        per_seed.append([dict(mis_out_end=float(h["mis_out"][-1, e]), mis_in_end=float(h["mis_in"][-1, e]),
                              **turner_summary(turner_measures(steps, A[:, e], B[:, e], h["mis_out"][:, e].numpy(),
                                                               config.log_every)))
                         for e in range(seeds)])
        histories.append({k: v[:, :1] for k, v in h.items()})
        trajectories.append((A[:, 0], B[:, 0]))
    history = {f"rot_{k}": torch.cat([h[k] for h in histories], 1).double() for k in histories[0]}
    history["rot_step"] = torch.tensor(result.steps)
    history["rot_A"] = torch.stack([a for a, _ in trajectories], 1)   # (T, settings, d)
    history["rot_B"] = torch.stack([b for _, b in trajectories], 1)
    return history, per_seed


def rotation_rows(config, h: dict) -> list[dict]:
    """The first seed's Turner summary of every rotation-search setting (the chapter's figures)."""
    rows = []
    for i in range(len(config.rotation_optimizers)):
        t = turner_measures(h["rot_step"].numpy(), h["rot_A"][:, i], h["rot_B"][:, i],
                            h["rot_mis_out"][:, i].numpy(), config.log_every)
        rows.append(dict(optimizer=config.rotation_optimizers[i], lr=config.rotation_lrs[i],
                         init_std=config.rotation_init_stds[i], weight_decay=config.rotation_weight_decays[i],
                         mis_out_end=float(h["rot_mis_out"][-1, i]), mis_in_end=float(h["rot_mis_in"][-1, i]),
                         train_ce_end=float(h["rot_train_ce"][-1, i]),
                         mis_out_x50=x50(h["rot_step"].numpy(), h["rot_mis_out"][:, i].numpy()),
                         **turner_summary(t)))
    return rows
