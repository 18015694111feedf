"""An RNN encoder-decoder, with no attention, additive attention or dot-product attention.

Cho et al. (2014) and Sutskever, Vinyals & Le (2014): an encoder RNN reads the source; without attention
the decoder sees the source only through one fixed-length vector ``c`` (here the bridge of the encoder's
final states, fed to the decoder at every step, as in Cho et al.). Bahdanau, Cho & Bengio (2015): at every
output step t the decoder scores every encoder state h_j against its previous state s_{t-1},

    additive (Bahdanau eq. 6, App. A.1.2):  e_tj = v^T tanh(W s_{t-1} + U m_j)
    dot (Luong, Pham & Manning 2015):       e_tj = s_{t-1} . m_j
    alpha_tj = softmax_j(e_tj)   (eq. 6),   c_t = sum_j alpha_tj m_j   (eq. 5)

where ``m_j = W_m h_j`` is the bidirectional encoder state projected to the decoder's size (the same
memory for both scores, so they differ only in the score). The decoder step is
``s_t = RNN([E y_{t-1}; c_t], s_{t-1})`` and the output distribution is ``softmax(W_o tanh(W_r [s_t; c_t;
E y_{t-1}]))`` (Bahdanau's deep output, without the maxout). Both scores use the previous state s_{t-1}
as the query (Bahdanau's order), so a switch between them changes the score function and nothing else.

Token id 0 is padding in both vocabularies; the target vocabulary has ``<s>`` = 1 and ``</s>`` = 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.models import register_model

ATTENTIONS = ("none", "additive", "dot")
PAD, SOS, EOS = 0, 1, 2
SRC_SPECIALS = ("<pad>",)
TGT_SPECIALS = ("<pad>", "<s>", "</s>")


@register_model("seq2seq")
class Seq2Seq(nn.Module):
    @dataclass
    class Config:
        task: str = "reverse"                   # a dlviz.data.seq2seq_tasks name
        src_tokens: tuple[str, ...] = tuple("abcdefgh")   # without the specials
        tgt_tokens: tuple[str, ...] = tuple("abcdefgh")
        word_level: bool = False
        min_src_len: int = 4                    # the input lengths the model was trained on (tokens)
        max_src_len: int = 24
        max_tgt_len: int = 24
        cell: str = "gru"                       # gru | lstm
        attention: str = "additive"             # none | additive | dot
        embed_dim: int = 32
        hidden_size: int = 64                   # per encoder direction, and the decoder's

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {c.attention!r}; choose one of {', '.join(ATTENTIONS)}")
        if c.cell not in ("gru", "lstm"):
            raise ValueError(f"unknown cell {c.cell!r}; choose gru or lstm")
        H, E = c.hidden_size, c.embed_dim
        rnn = nn.GRU if c.cell == "gru" else nn.LSTM
        self.src_embed = nn.Embedding(len(c.src_tokens) + len(SRC_SPECIALS), E, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(len(c.tgt_tokens) + len(TGT_SPECIALS), E, padding_idx=PAD)
        self.encoder = rnn(E, H, batch_first=True, bidirectional=True)
        self.memory = nn.Linear(2 * H, H, bias=False)          # m_j = W_m h_j
        self.bridge = nn.Linear(2 * H, H)                      # s_0 = tanh(W_b [h_fwd_T; h_bwd_1]) (App. A.2.2)
        if c.attention == "additive":
            self.att_query = nn.Linear(H, H, bias=False)       # W
            self.att_key = nn.Linear(H, H)                     # U (with its bias)
            self.att_v = nn.Linear(H, 1, bias=False)           # v
        cell = nn.GRUCell if c.cell == "gru" else nn.LSTMCell
        self.decoder = cell(E + H, H)
        self.readout = nn.Linear(2 * H + E, H)
        self.out = nn.Linear(H, len(c.tgt_tokens) + len(TGT_SPECIALS))

    # ------------------------------------------------------------------ vocabularies
    @property
    def src_vocab(self) -> list[str]:
        return list(SRC_SPECIALS) + list(self.config.src_tokens)

    @property
    def tgt_vocab(self) -> list[str]:
        return list(TGT_SPECIALS) + list(self.config.tgt_tokens)

    def encode_tokens(self, toks: list[str]) -> list[int]:
        index = {t: i for i, t in enumerate(self.src_vocab)}
        return [index[t] for t in toks]

    def decode_ids(self, ids) -> list[str]:
        """Target ids -> tokens, stopping at ``</s>``."""
        v, out = self.tgt_vocab, []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= len(TGT_SPECIALS):
                out.append(v[i])
        return out

    # ------------------------------------------------------------------ pieces
    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, object]:
        """``src (B, S)`` ids (0-padded) -> memory ``m (B, S, H)``, mask ``(B, S)`` and the first decoder state."""
        mask = src != PAD
        lengths = mask.sum(1).clamp(min=1).cpu()
        x = self.src_embed(src)                                                  # (B, S, E)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, hn = self.encoder(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, 2H)
        last = hn[0] if isinstance(hn, tuple) else hn                            # (2, B, H)
        s0 = torch.tanh(self.bridge(torch.cat([last[0], last[1]], -1)))          # (B, H)
        state = (s0, torch.zeros_like(s0)) if self.config.cell == "lstm" else s0
        return self.memory(h), mask, state

    def scores(self, query: torch.Tensor, m: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        """Unnormalised e_tj: ``query (B, H)``, memory ``m (B, S, H)`` -> ``(B, S)``."""
        if self.config.attention == "additive":
            k = self.att_key(m) if keys is None else keys                        # U m_j + b, (B, S, H)
            return self.att_v(torch.tanh(self.att_query(query)[:, None] + k)).squeeze(-1)
        return (m * query[:, None]).sum(-1)                                      # s . m_j

    def attend(self, query: torch.Tensor, m: torch.Tensor, mask: torch.Tensor, keys=None):
        """``(context (B, H), alpha (B, S))``: softmax over the unpadded source positions (eq. 5-6)."""
        e = self.scores(query, m, keys).masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(e, -1)                                             # eq. 6
        return torch.bmm(alpha[:, None], m).squeeze(1), alpha                    # eq. 5

    def step(self, y_prev: torch.Tensor, state, m: torch.Tensor, mask: torch.Tensor, fixed: torch.Tensor,
             keys=None):
        """One decoder step: ``y_prev (B,)`` ids -> ``(logits (B, V), new state, alpha (B, S) or None)``."""
        s_prev = state[0] if isinstance(state, tuple) else state
        if self.config.attention == "none":
            ctx, alpha = fixed, None                                             # the one fixed-length vector
        else:
            ctx, alpha = self.attend(s_prev, m, mask, keys)
        emb = self.tgt_embed(y_prev)                                             # (B, E)
        state = self.decoder(torch.cat([emb, ctx], -1), state)
        s = state[0] if isinstance(state, tuple) else state
        logits = self.out(torch.tanh(self.readout(torch.cat([s, ctx, emb], -1))))
        return logits, state, alpha

    def start(self, src: torch.Tensor):
        """Encode and prepare decoding: ``(m, mask, state, fixed context, precomputed keys)``."""
        m, mask, state = self.encode(src)
        fixed = state[0] if isinstance(state, tuple) else state                  # c = s_0 (Cho et al. 2014)
        keys = self.att_key(m) if self.config.attention == "additive" else None
        return m, mask, state, fixed, keys

    # ------------------------------------------------------------------ full passes
    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, teacher_forcing: float = 1.0,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``src (B, S)``, ``tgt_in (B, T)`` (``<s>`` y_1 .. y_{T-1}) -> ``logits (B, T, V)``, ``alpha (B, T, S)``.

        With ``teacher_forcing < 1`` each example feeds its own previous prediction instead of the true
        token with probability ``1 - teacher_forcing`` at every step (Bengio et al. 2015)."""
        m, mask, state, fixed, keys = self.start(src)
        B, T = tgt_in.shape
        logits, alphas = [], []
        y = tgt_in[:, 0]
        for t in range(T):
            lg, state, a = self.step(y, state, m, mask, fixed, keys)
            logits.append(lg)
            alphas.append(a if a is not None else torch.zeros(B, src.shape[1], device=src.device))
            if t + 1 < T:
                y = tgt_in[:, t + 1]
                if teacher_forcing < 1.0:
                    own = lg.detach().index_fill(1, torch.tensor([PAD, SOS], device=lg.device),
                                                 float("-inf")).argmax(-1)
                    use_own = torch.rand(B, generator=generator) >= teacher_forcing
                    y = torch.where(use_own.to(y.device), own, y)
        return torch.stack(logits, 1), torch.stack(alphas, 1)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding: ``(ids (B, T), alpha (B, T, S))``; ids stop at ``</s>`` (padded with ``</s>``)."""
        max_len = max_len or self.config.max_tgt_len + 1
        m, mask, state, fixed, keys = self.start(src)
        B = src.shape[0]
        y = torch.full((B,), SOS, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        ids, alphas = [], []
        for _ in range(max_len):
            lg, state, a = self.step(y, state, m, mask, fixed, keys)
            lg[:, [PAD, SOS]] = float("-inf")                                    # as beam search: never emitted
            y = torch.where(done, torch.full_like(y, EOS), lg.argmax(-1))
            ids.append(y)
            alphas.append(a if a is not None else torch.zeros(B, src.shape[1], device=src.device))
            done |= y == EOS
            if bool(done.all()):
                break
        return torch.stack(ids, 1), torch.stack(alphas, 1)

    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, width: int = 4, max_len: int | None = None,
                    length_norm: float = 0.0) -> tuple[list[int], torch.Tensor, float]:
        """Beam search for ONE source ``src (1, S)``: ``(ids ending with </s>, alpha (T, S), log p)``.

        Keeps the ``width`` best prefixes by total log-probability; a prefix that emits ``</s>`` is
        finished. The best finished hypothesis by ``log p / len ** length_norm`` wins (0: plain log p).
        With ``width = 1`` this is greedy decoding exactly."""
        max_len = max_len or self.config.max_tgt_len + 1
        m, mask, state, fixed, keys = self.start(src)
        S = src.shape[1]
        beams = [([], [], 0.0, state)]                       # (ids, alphas, log p, decoder state)
        finished: list[tuple[list[int], list[torch.Tensor], float]] = []
        for _ in range(max_len):
            k = len(beams)
            y = torch.tensor([b[0][-1] if b[0] else SOS for b in beams], device=src.device)
            st_ = [b[3] for b in beams]
            st = (torch.cat([s[0] for s in st_]), torch.cat([s[1] for s in st_])) if isinstance(st_[0], tuple) \
                else torch.cat(st_)
            lg, new_state, a = self.step(y, st, m.expand(k, -1, -1), mask.expand(k, -1), fixed.expand(k, -1),
                                         None if keys is None else keys.expand(k, -1, -1))
            logp = F.log_softmax(lg.double(), -1)                                # (k, V)
            total = logp + torch.tensor([b[2] for b in beams], dtype=torch.double, device=src.device)[:, None]
            total[:, PAD] = float("-inf")
            total[:, SOS] = float("-inf")
            flat = total.flatten()
            top = torch.topk(flat, min(width, flat.numel()))
            V = logp.shape[1]
            nxt = []
            for score, idx in zip(top.values.tolist(), top.indices.tolist()):
                bi, tok = divmod(idx, V)
                ids = beams[bi][0] + [tok]
                al = beams[bi][1] + [a[bi] if a is not None else torch.zeros(S, device=src.device)]
                if tok == EOS:
                    finished.append((ids, al, score))
                else:
                    s_b = (new_state[0][bi:bi + 1], new_state[1][bi:bi + 1]) if isinstance(new_state, tuple) \
                        else new_state[bi:bi + 1]
                    nxt.append((ids, al, score, s_b))
            best_done = max((f[2] for f in finished), default=float("-inf"))
            # stop when no open prefix can still beat the best finished one (log p only decreases)
            if not nxt or (length_norm == 0.0 and best_done >= max(b[2] for b in nxt)):
                break
            beams = nxt[:width]
        if not finished:                                     # ran out of length: take the best open prefix
            finished = [(b[0], b[1], b[2]) for b in beams]

        def rank(f):
            return f[2] / (len(f[0]) ** length_norm) if length_norm else f[2]

        ids, al, score = max(finished, key=rank)
        return ids, torch.stack(al), float(score)
