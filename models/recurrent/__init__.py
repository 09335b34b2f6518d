"""Recurrent cores: one base owning the ``nn.RNNBase`` parameter layout and the layer loop (:mod:`.base`), the
Elman and LSTM recurrences with hand-written BPTT (:mod:`.rnn`, :mod:`.lstm`), and the one batch-first wrapper
every model builds through its factory (:mod:`.core`)."""
