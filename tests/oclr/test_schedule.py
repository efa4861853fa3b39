import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oclr.schedule import Schedule, build_scheduler, paper_schedule


def test_the_paper_run_warms_up_over_40k_steps_and_halves_every_80k():
    s = paper_schedule(600_000)
    assert (s.warmup, s.halve_every) == (40_000, 80_000)
    assert s.factor(0) == pytest.approx(1 / 40_000)
    assert s.factor(39_999) == 1.0
    assert s.factor(79_999) == 1.0 and s.factor(80_000) == 0.5
    assert s.factor(599_999) == 0.5 ** 7


def test_a_short_run_keeps_the_papers_shape_scaled_to_its_length():
    s = paper_schedule(6_000)
    assert (s.warmup, s.halve_every) == (400, 800)
    assert s.factor(5_999) == paper_schedule(600_000).factor(599_999)
    assert paper_schedule(3) == Schedule(1, 1)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 1_000_000), st.floats(0, 1, exclude_max=True))
def test_the_rate_never_exceeds_the_base_and_never_rises_after_warm_up(total, where):
    s, step = paper_schedule(total), int(where * total)
    assert 0 < s.factor(step) <= 1
    if step >= s.warmup:
        assert s.factor(step + 1) <= s.factor(step)


def test_the_scheduler_state_restores_the_same_curve():
    def fresh():
        opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        return opt, build_scheduler(opt, Schedule(3, 4))

    opt, sched = fresh()
    for _ in range(5):
        opt.step()
        sched.step()
    opt2, sched2 = fresh()
    opt2.load_state_dict(opt.state_dict())  # the optimiser state carries the current rate
    sched2.load_state_dict(sched.state_dict())
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(5e-4)
    opt.step(), opt2.step(), sched.step(), sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_a_zero_period_is_refused():
    with pytest.raises(ValueError):
        Schedule(0, 5)
    with pytest.raises(ValueError):
        paper_schedule(0)
