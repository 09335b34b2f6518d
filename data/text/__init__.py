"""Parallel text for token seq2seq: reading + validation, tokenizers, detokenizing, batches, the DataModule."""
