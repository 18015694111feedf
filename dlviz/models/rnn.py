"""CharRNN: a vanilla RNN, GRU or LSTM over characters, for next-character prediction or sequence tasks.

Elman (1990) "Finding structure in time" (the vanilla RNN); Hochreiter & Schmidhuber (1997) "Long
short-term memory"; Cho et al. (2014) (the GRU). The model is the char-rnn of Karpathy, Johnson &
Fei-Fei (2015), "Visualizing and Understanding Recurrent Networks": embedding -> stacked recurrent
layers -> a linear read-out at every time step.

The recurrent layers are ``torch.nn.RNN/GRU/LSTM`` (one module per layer, so every layer's state
sequence is reachable). :meth:`CharRNN.trace` returns everything a page wants to look at -- hidden
states, LSTM cell states, and the gate activations, recomputed from the layer's own weights with
PyTorch's equations -- and :meth:`CharRNN.step_states` unrolls one step at a time through the real
modules, keeping every state as a node of the autograd graph (for gradients through time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dlviz.models import register_model

CELLS = ("rnn", "gru", "lstm")
GATE_NAMES = {"rnn": (), "gru": ("reset", "update", "new"), "lstm": ("input", "forget", "cell", "output")}
# id 0 is "unknown character", as in dlviz.data.CharVocab
DEFAULT_VOCAB = "\x00\n" + "".join(chr(i) for i in range(32, 127))

State = "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"


@dataclass
class Trace:
    """What a CharRNN computed over one batch of sequences (all detached, on the CPU).

    h: ``(L, B, T, H)`` hidden state of every layer after reading each token; c: the same for the
    LSTM cell state (None otherwise); gates: ``{name: (L, B, T, H)}`` (LSTM: input, forget, cell,
    output; GRU: reset, update, new); logits: ``(B, T, C)``.
    """

    h: torch.Tensor
    c: torch.Tensor | None
    gates: dict[str, torch.Tensor] = field(default_factory=dict)
    logits: torch.Tensor | None = None


@register_model("char_rnn")
class CharRNN(nn.Module):
    @dataclass
    class Config:
        vocab: str = DEFAULT_VOCAB    # input characters in id order; id 0 stands for unknown characters
        num_classes: int = 0          # 0: predict the next character (len(vocab) outputs)
        labels: str = ""              # names of the classes for a task model, "|"-separated
        task: str = "text"            # "text" (next character) or a dlviz.data.sequence_task name
        cell: str = "lstm"            # rnn | gru | lstm
        embed_dim: int = 32
        hidden_size: int = 128
        num_layers: int = 1
        dropout: float = 0.0          # between layers
        forget_bias: float = 1.0      # LSTM forget-gate bias at init (Jozefowicz et al., 2015)

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.cell not in CELLS:
            raise ValueError(f"unknown cell {c.cell!r}; choose one of {', '.join(CELLS)}")
        if len(c.vocab) < 2:
            raise ValueError("the vocabulary needs at least two characters")
        if c.num_layers < 1 or c.hidden_size < 1:
            raise ValueError("num_layers and hidden_size must be positive")
        self.embed = nn.Embedding(len(c.vocab), c.embed_dim)
        cls = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[c.cell]
        self.layers = nn.ModuleList(
            cls(c.embed_dim if i == 0 else c.hidden_size, c.hidden_size, batch_first=True)
            for i in range(c.num_layers))
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, self.num_outputs)
        if c.cell == "lstm":
            H = c.hidden_size
            with torch.no_grad():
                for layer in self.layers:
                    layer.bias_ih_l0[H:2 * H].fill_(c.forget_bias)
                    layer.bias_hh_l0[H:2 * H].zero_()

    # ------------------------------------------------------------------ basics
    @property
    def num_outputs(self) -> int:
        return self.config.num_classes or len(self.config.vocab)

    @property
    def class_names(self) -> list[str]:
        c = self.config
        if c.num_classes == 0:
            return list(c.vocab)
        names = c.labels.split("|") if c.labels else []
        return names if len(names) == c.num_classes else [str(i) for i in range(c.num_classes)]

    @property
    def gate_names(self) -> tuple[str, ...]:
        return GATE_NAMES[self.config.cell]

    def encode(self, text: str) -> torch.Tensor:
        """``(T,)`` ids; characters outside the vocabulary map to id 0."""
        index = {ch: i for i, ch in enumerate(self.config.vocab)}
        return torch.tensor([index.get(ch, 0) for ch in text], dtype=torch.long)

    def decode(self, ids) -> str:
        v = self.config.vocab
        return "".join(v[int(i)] if 0 <= int(i) < len(v) else "?" for i in ids)

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> list:
        """Zero state for every layer: a ``(1, B, H)`` tensor, or an ``(h, c)`` pair for the LSTM."""
        z = torch.zeros(1, batch, self.config.hidden_size, device=device, dtype=self.embed.weight.dtype)
        return [(z, z.clone()) if self.config.cell == "lstm" else z for _ in self.layers]

    def forward_with_state(self, x: torch.Tensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        """``x (B, T)`` ids -> ``(logits (B, T, C), new state)``; ``state`` as from :meth:`init_state`."""
        out = self.embed(x)                                  # (B, T, E)
        new_state = []
        for i, layer in enumerate(self.layers):
            if i > 0:
                out = self.drop(out)
            out, s = layer(out, None if state is None else state[i])  # (B, T, H)
            new_state.append(s)
        return self.head(self.drop(out)), new_state          # (B, T, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:      # (B, T) -> (B, T, C)
        return self.forward_with_state(x)[0]

    # ------------------------------------------------------------------ looking inside
    @torch.no_grad()
    def trace(self, x: torch.Tensor) -> Trace:
        """Hidden states, cell states and gates of every layer for ``x (B, T)``, from a zero state.

        The hidden states come from the fast ``nn`` module; the gates are then recomputed in one
        vectorised pass from the inputs and the previous hidden states with PyTorch's own equations
        (the LSTM cell state needs one cheap element-wise scan).
        """
        c = self.config
        H = c.hidden_size
        inp = self.embed(x)                                  # (B, T, E)
        hs, cs, gates = [], [], {g: [] for g in self.gate_names}
        for layer in self.layers:
            h, _ = layer(inp)                                # (B, T, H)
            h0 = torch.zeros_like(h[:, :1])
            h_prev = torch.cat([h0, h[:, :-1]], dim=1)       # (B, T, H) state each step starts from
            wi, wh, bi, bh = layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0
            gi = inp @ wi.T + bi                             # (B, T, G*H)
            gh = h_prev @ wh.T + bh
            if c.cell == "lstm":
                pre = gi + gh
                i_g, f_g = torch.sigmoid(pre[..., :H]), torch.sigmoid(pre[..., H:2 * H])
                g_g, o_g = torch.tanh(pre[..., 2 * H:3 * H]), torch.sigmoid(pre[..., 3 * H:])
                cell = torch.empty_like(h)
                ct = torch.zeros_like(h[:, 0])
                ig = i_g * g_g
                for t in range(h.shape[1]):                  # c_t = f_t * c_{t-1} + i_t * g_t
                    ct = f_g[:, t] * ct + ig[:, t]
                    cell[:, t] = ct
                cs.append(cell)
                for name, v in zip(self.gate_names, (i_g, f_g, g_g, o_g)):
                    gates[name].append(v)
            elif c.cell == "gru":
                r = torch.sigmoid(gi[..., :H] + gh[..., :H])
                z = torch.sigmoid(gi[..., H:2 * H] + gh[..., H:2 * H])
                n = torch.tanh(gi[..., 2 * H:] + r * gh[..., 2 * H:])
                for name, v in zip(self.gate_names, (r, z, n)):
                    gates[name].append(v)
            hs.append(h)
            inp = h
        return Trace(h=torch.stack(hs).cpu(), c=torch.stack(cs).cpu() if cs else None,
                     gates={k: torch.stack(v).cpu() for k, v in gates.items()},
                     logits=self.head(inp).cpu())

    def step_states(self, x: torch.Tensor, wrt: str = "h") -> tuple[list[torch.Tensor], torch.Tensor]:
        """Unroll one step at a time through the real modules, with autograd on.

        Returns ``(nodes, h_T)``: ``nodes[t]`` is the ``(B, D)`` tensor at step t that the rest of the
        computation depends on -- the last layer's hidden state (``wrt="h"``), the LSTM cell state
        (``wrt="c"``) or the embedded input (``wrt="x"``) -- and ``h_T (B, H)`` is the last layer's
        final hidden state. ``autograd.grad(h_T, nodes[t])`` is then exactly ``dh_T/d nodes[t]``.
        """
        if wrt not in ("h", "c", "x"):
            raise ValueError("wrt must be 'h', 'c' or 'x'")
        if wrt == "c" and self.config.cell != "lstm":
            raise ValueError("only the LSTM has a cell state c")
        lstm = self.config.cell == "lstm"
        # per layer, (B, H) tensors (h, or h and c) that the next step really consumes
        state = [tuple(t[0] for t in s) if lstm else (s[0],) for s in self.init_state(x.shape[0], x.device)]
        emb = self.embed(x)                                  # (B, T, E)
        nodes = []
        for t in range(x.shape[1]):
            inp = emb[:, t]                                  # (B, E)
            if wrt == "x":
                inp = inp.detach().requires_grad_(True)
                nodes.append(inp)
            inp = inp.unsqueeze(1)                           # (B, 1, E)
            for i, layer in enumerate(self.layers):
                last_in, h_prev = inp[:, 0], state[i][0]
                s_in = tuple(v.unsqueeze(0) for v in state[i])
                inp, s_out = layer(inp, s_in if lstm else s_in[0])   # (B, 1, H)
                state[i] = tuple(v[0] for v in s_out) if lstm else (s_out[0],)
            if wrt == "h":
                nodes.append(state[-1][0])
            elif wrt == "c":
                nodes.append(state[-1][1])
        if wrt != "c":
            return nodes, state[-1][0]
        # the module returns h_T and c_T side by side; for dh_T/dc_T, rebuild h_T = o_T * tanh(c_T)
        # from c_T with the layer's own output-gate weights, so that c_T lies on the path to h_T
        layer, H = self.layers[-1], self.config.hidden_size
        pre_o = (last_in @ layer.weight_ih_l0[3 * H:].T + layer.bias_ih_l0[3 * H:]
                 + h_prev @ layer.weight_hh_l0[3 * H:].T + layer.bias_hh_l0[3 * H:])
        return nodes, torch.sigmoid(pre_o) * torch.tanh(state[-1][1])
