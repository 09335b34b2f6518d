from types import SimpleNamespace

from utils.progress import _epochs_left


def _trainer(max_epochs=60, current_epoch=0, max_steps=-1, batches=200, accumulate=1, global_step=200):
    return SimpleNamespace(max_epochs=max_epochs, current_epoch=current_epoch, max_steps=max_steps,
                           num_training_batches=batches, accumulate_grad_batches=accumulate, global_step=global_step)


def test_epochs_left_are_the_epochs_flag_less_those_done():
    assert _epochs_left(_trainer()) == 59
    assert _epochs_left(_trainer(current_epoch=59)) == 0


def test_max_steps_that_end_the_run_sooner_bound_the_epochs_left():
    """A 100-step run with 200-batch epochs ends in its first epoch (it showed 'epoch 1/60  ETA 6.4 min')."""
    assert _epochs_left(_trainer(max_steps=100, global_step=100)) == 0
    assert _epochs_left(_trainer(max_steps=25, batches=10, global_step=10)) == 2
    assert _epochs_left(_trainer(max_steps=1000, batches=10, accumulate=2, global_step=5)) == 59  # 199 epochs of 5
    assert _epochs_left(_trainer(max_steps=100, batches=float("inf"), global_step=10)) == 59  # unknown epoch length
