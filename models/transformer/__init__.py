"""Transformer parts and models (pre-LN, scaled_dot_product_attention)."""
