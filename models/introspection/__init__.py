"""Looking inside trained recurrent models (``python main.py inspect``): per-step hidden states, gates and ∂L/∂h_t of
every recurrent core (:mod:`.probe`), their statistics (:mod:`.statistics`: gradient flow through time, gate
saturation, PCA of the state trajectory) and attribution of a forecast to input steps and features
(:mod:`.attribution`, integrated gradients by Captum)."""
