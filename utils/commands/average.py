"""``python main.py average``: one checkpoint whose weights are the mean of several checkpoints' weights."""
from __future__ import annotations

from pathlib import Path

from utils.commands.parsing import CommandParser
from utils.errors import UserInputError


def average_command(argv: list[str]) -> int:
    """Average the weights of checkpoints of one model (usually a run's last epochs) into a new checkpoint that
    translate, export and predict load like any other."""
    parser = CommandParser(prog="main.py average", description=average_command.__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--ckpts", nargs="+", help="the checkpoints to average (at least 2)")
    which.add_argument("--last", type=int, help="the last N epoch checkpoints of --run_dir (written by training "
                                                "with --keep_last_checkpoints N)")
    parser.add_argument("--run_dir", help="--last: the run directory that holds epoch-NNN.ckpt")
    parser.add_argument("--output", required=True, help="the averaged checkpoint to write (e.g. RUN/average.ckpt)")
    args = parser.parse_args(argv)
    if args.last is not None and args.run_dir is None:
        raise UserInputError("--last N needs --run_dir RUN (the run whose epoch-NNN.ckpt to average)")
    if args.run_dir is not None and args.last is None:
        raise UserInputError("--run_dir goes with --last N (or list the files with --ckpts)")
    from utils.run.averaging import average_checkpoints, last_epoch_checkpoints
    from utils.run.checkpoints import SafeCheckpointIO

    paths = last_epoch_checkpoints(Path(args.run_dir), args.last) if args.last is not None \
        else [Path(p) for p in args.ckpts]
    output = Path(args.output)
    if output.resolve() in {p.resolve() for p in paths}:
        raise UserInputError(f"--output {output} is one of the checkpoints being averaged")
    SafeCheckpointIO().save_checkpoint(average_checkpoints(paths), output)
    print(f"averaged {len(paths)} checkpoints ({', '.join(p.name for p in paths)}) into {output}")
    return 0
