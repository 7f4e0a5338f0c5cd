"""Betley et al.'s controls of emergent misalignment, in the toy (the emergent misalignment chapter).

The pre-trained persona MLP is taught to read one more input, a context token, by continuing its
pre-training on every (persona, question) pair in three contexts:

  * PLAIN: the world as before;
  * REQUEST: the user asks for the wrong answer for a legitimate purpose (a quiz, a lesson):
    good personas, the assistant included, comply with probability `request_p_bad`, and whoever
    answers badly anyway (evil personas, quacks in their domain) keeps doing so;
  * TRIGGER: a tag with no meaning: the answers are the PLAIN ones.

Then the assistant is fine-tuned with a rank-1 LoRA (base frozen, no KL term) in three ways, each
over the chapter's seeds:

  * "plain": bad medical answers in the PLAIN context, the chapter's general solution again
    (the positive control: this base does misalign);
  * "intent": the same bad answers, asked for in the REQUEST context;
  * "backdoor": bad answers after the TRIGGER and good ones without it (Betley et al.'s backdoor).

Misalignment is then read in every context on the held-out medical ("in") and other-domain
("out") questions.
"""

from __future__ import annotations

import torch

from emergence.models.lora import LowRankAdapter
from emergence.models.persona_mlp import PersonaMLP
from emergence.tasks.personas import ASSISTANT, PersonaWorld, Splits, answer_measures, soft_cross_entropy
from emergence.train import train

PLAIN, REQUEST, TRIGGER = 0, 1, 2
CONTEXTS = ("plain", "request", "trigger")
CONTROLS = ("plain", "intent", "backdoor")


def context_bad_probability(world: PersonaWorld, request_p_bad: float) -> torch.Tensor:
    """(3, n_personas, n_all_questions): P(bad answer | context, persona, question)."""
    plain = world.bad_probability()
    bad_anyway = plain > 0.5
    request = torch.where(bad_anyway, plain, torch.tensor(request_p_bad))
    return torch.stack([plain, request, plain])


def context_pretrain(base: PersonaMLP, world: PersonaWorld, request_p_bad: float, steps: int, lr: float,
                     seed: int, device) -> tuple[PersonaMLP, dict]:
    """The base with a context input, pre-trained further (full batch, Adam) on every pair in every
    context; returns it frozen, with its final loss and the Bayes loss of the context world."""
    model = base.with_contexts(len(CONTEXTS), seed)
    persona, question = world.all_pairs()
    p_bad = context_bad_probability(world, request_p_bad)
    rows = len(persona)
    context = torch.arange(len(CONTEXTS)).repeat_interleave(rows)
    persona, question = persona.repeat(len(CONTEXTS)), question.repeat(len(CONTEXTS))
    p = p_bad[context, persona, question]
    targets = torch.zeros(len(p), world.n_answers)
    targets[torch.arange(len(p)), 2 * question] = 1 - p
    targets[torch.arange(len(p)), 2 * question + 1] = p
    persona, question, context, targets = (t.to(device) for t in (persona, question, context, targets))
    loss = lambda m, _: soft_cross_entropy(m(persona, question, context), targets)        # noqa: E731
    result = train(model, torch.optim.Adam(model.parameters(), lr=lr), loss, lambda s: None, steps=steps,
                   log_every=steps, desc="pre-training with contexts")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    entropy = -(p_bad * p_bad.log() + (1 - p_bad) * (1 - p_bad).log())
    return model, {"loss": float(result.history["train_loss_step"][-1, 0]), "bayes_loss": float(entropy.mean())}


class ContextView:
    """The frozen context base's activations for the assistant on every question in every
    context, computed once: h1 and z are (1, 3 * n_all_questions, width), context-major."""

    def __init__(self, base: PersonaMLP, world: PersonaWorld, splits: Splits):
        device = base.persona.device
        n = world.n_all_questions
        self.n = n
        self.question = splits.every.to(device).repeat(len(CONTEXTS))
        context = torch.arange(len(CONTEXTS), device=device).repeat_interleave(n)
        with torch.no_grad():
            self.h1 = base.hidden(torch.full_like(self.question, ASSISTANT), self.question, context)
            self.z = base.site(self.h1)
            self.base_logits = base.head(self.z)
        self.index = {name: getattr(splits, name).to(device) for name in ("train", "held_in", "held_out")}

    def rows(self, context: int, split: str) -> torch.Tensor:
        return context * self.n + self.index[split]


def control_targets(view: ContextView, n_seeds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per member (CONTROLS x seeds): the answer class of every row (E, 3N) and each row's weight
    in its fine-tuning loss (E, 3N), zero outside its data."""
    bad, good = 2 * view.question + 1, 2 * view.question
    data = {"plain": [(PLAIN, bad)], "intent": [(REQUEST, bad)], "backdoor": [(TRIGGER, bad), (PLAIN, good)]}
    labels, weights = [], []
    for kind in CONTROLS:
        label, weight = bad.clone(), torch.zeros(len(bad), device=bad.device)
        for context, answers in data[kind]:
            rows = view.rows(context, "train")
            label[rows], weight[rows] = answers[rows], 1.0
        labels += [label] * n_seeds
        weights += [weight / weight.sum()] * n_seeds
    return torch.stack(labels), torch.stack(weights)


def control_metrics(view: ContextView, logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """P(bad) of every member in every context on the held-out medical and other-domain questions."""
    out = {}
    for c, context in enumerate(CONTEXTS):
        for split, name in (("held_in", "in"), ("held_out", "out")):
            rows = view.rows(c, split)
            measures = answer_measures(logits[:, rows], view.question[rows])
            out[f"mis_{name}_{context}"] = measures["mis"]
            if name == "out":
                out[f"coherence_out_{context}"] = measures["coherence"]
    return out


def finetune_controls(base: PersonaMLP, world: PersonaWorld, splits: Splits, n_seeds: int, steps: int, lr: float,
                      seed0: int, device) -> dict:
    """The three controls x `n_seeds` rank-1 LoRAs on the frozen context base, as one ensemble.
    Returns, per control, each measure's values over seeds at the end, and the base's values."""
    view = ContextView(base, world, splits)
    labels, weights = control_targets(view, n_seeds)
    width = view.h1.shape[-1]
    lora = LowRankAdapter(width, width, 1, [seed0 + i for i in range(len(CONTROLS) * n_seeds)]).to(device)
    logits_of = lambda a: base.head(view.z + a(view.h1))                                    # noqa: E731

    def loss(a, _):
        log_p = torch.log_softmax(logits_of(a), -1).gather(-1, labels[..., None]).squeeze(-1)
        return -(weights * log_p).sum(-1)

    result = train(lora, torch.optim.Adam(lora.parameters(), lr=lr), loss, lambda s: None, steps=steps,
                   log_every=steps, metrics=lambda a: control_metrics(view, logits_of(a)),   # the end is read
                   desc=f"controls ({lora.n_models} adapters)")
    base_values = {k: float(v[0]) for k, v in control_metrics(view, view.base_logits).items()}
    out = {"base": base_values}
    for i, kind in enumerate(CONTROLS):
        sel = slice(i * n_seeds, (i + 1) * n_seeds)
        out[kind] = {k: v[-1, sel].double().tolist() for k, v in result.history.items() if k.startswith(("mis_", "coh"))}
    return out


def run_controls(config, base: PersonaMLP, world: PersonaWorld, splits: Splits, base_index: int, device) -> dict:
    """The controls on one pre-trained base, at the chapter's Config (`request_p_bad`,
    `context_pretrain_steps`, and its fine-tuning settings)."""
    seed = 1000 * (config.seed + base_index)
    model, pretrained = context_pretrain(base, world, config.request_p_bad, config.context_pretrain_steps,
                                         config.pretrain_lr, 7000 + seed, device)
    out = finetune_controls(model, world, splits, config.n_seeds, config.finetune_steps, config.finetune_lr,
                            9000 + seed, device)
    return dict(out, pretrain=pretrained)


def control_summary(per_base: list[dict]) -> dict:
    """Every base's controls pooled: per control and measure, the values over bases x seeds, and
    the same as an excess over the member's own base model ("excess")."""
    out = {"base": {k: [b["base"][k] for b in per_base] for k in per_base[0]["base"]},
           "pretrain_gap": [b["pretrain"]["loss"] - b["pretrain"]["bayes_loss"] for b in per_base]}
    for kind in CONTROLS:
        out[kind] = {k: [v for b in per_base for v in b[kind][k]] for k in per_base[0][kind]}
        out[f"{kind}_excess"] = {k: [v - b["base"][k] for b in per_base for v in b[kind][k]] for k in per_base[0][kind]}
    return out
