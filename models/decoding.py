"""The interface greedy and beam search (:mod:`models.search`) decode through, so that the recurrent
encoder-decoder (:class:`models.seq2seq.Seq2Seq`) and the Transformer
(:class:`models.transformer.seq2seq.TransformerSeq2Seq`) share one search.

A decoder splits what it carries between steps in two, because beam search treats them differently:

* the **memory** is what the source gives every step (encoder outputs, projected keys/values, the source
  mask). It is the same for all beams of a sentence, so the search selects rows of it only when it expands a
  sentence into its beams or drops finished sentences.
* the **state** is what each hypothesis has decoded so far (a recurrent state, cached self-attention
  keys/values). The search reorders it after every step to follow the surviving hypotheses.

Both are reordered with ``index_select(rows)``, which returns a new object with the given rows (dimension of
the sentences/beams, whichever axis the tensors keep it on).
"""
from __future__ import annotations

from typing import Any, Optional, Protocol

from torch import Tensor


class Rows(Protocol):
    """Per-row tensors the search can select and reorder."""

    def index_select(self, rows: Tensor) -> Any:
        """A copy with rows ``rows`` (N',) of every tensor."""


class SourceMemory(Rows, Protocol):
    """The encoded source; ``mask`` (N, S) is True on real source tokens."""

    @property
    def mask(self) -> Tensor: ...


class IncrementalDecoder(Protocol):
    """A token encoder-decoder that decodes one position per call (in eval mode for the search).

    ``decode_step`` must cost one target position, not the whole prefix: the state carries what earlier steps
    computed. ``pad_id`` is what the search writes after a hypothesis has ended.
    """

    pad_id: int

    def encode(self, src: Tensor, src_lengths: Optional[Tensor]) -> tuple[SourceMemory, Rows]:
        """Source ids (B, S) and lengths (B,) (None = no padding) -> memory and the state before the first step."""

    def decode_step(self, prev: Tensor, state: Any, memory: Any) -> tuple[Tensor, Any, Optional[Tensor]]:
        """Previous tokens (N,) -> next-token logits (N, V), the new state, and attention over the source (N, S)
        (weights summing to 1 over real tokens, exactly 0 on padding) or None for a model without attention."""
