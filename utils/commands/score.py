"""``python main.py score``: sacreBLEU BLEU and chrF of a translation file against its reference file."""
from __future__ import annotations

from pathlib import Path

from utils.commands.parsing import CommandParser
from utils.errors import UserInputError


def score_command(argv: list[str]) -> int:
    """Score detokenized translations against the untouched reference file, one sentence a line, with sacreBLEU
    (cased unless --lowercase): the numbers and signatures that papers report, the same computation as a run's
    test/bleu and test/chrf."""
    from data.text.scoring import TOKENIZERS, bleu_and_chrf

    parser = CommandParser(prog="main.py score", description=score_command.__doc__)
    parser.add_argument("--hyp", required=True, help="translations, one a line (python main.py translate --output)")
    parser.add_argument("--ref", required=True, help="references, one a line, as distributed (not re-tokenized)")
    parser.add_argument("--lowercase", action="store_true", help="case-insensitive scores (case:lc in the signature)")
    parser.add_argument("--tokenize", default="13a", choices=TOKENIZERS,
                        help="sacreBLEU's BLEU tokenizer: 13a for words (the default of WMT), char for "
                             "character-level text, intl, zh, ...")
    args = parser.parse_args(argv)
    from data.text.reading import read_lines

    hypotheses, references = read_lines(Path(args.hyp)), read_lines(Path(args.ref))
    if len(hypotheses) != len(references):
        raise UserInputError(f"--hyp {args.hyp} has {len(hypotheses)} lines but --ref {args.ref} has "
                             f"{len(references)} (one translation per reference line)")
    for score in bleu_and_chrf(hypotheses, references, args.lowercase, args.tokenize):
        print(score.report)
        print(f"  signature: {score.signature}")
    return 0
