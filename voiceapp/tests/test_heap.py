import gc

import pytest

from calls import warmup
from voiceapp import heap


@pytest.fixture
def thawed():
    gc.unfreeze()
    yield
    gc.unfreeze()


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settling_freezes_the_live_heap_after_collecting_its_garbage(thawed):
    kept = Cycle()
    garbage = Cycle()
    garbage_id = id(garbage)
    del garbage
    frozen = heap.settle()
    assert frozen > 10_000  # Django, the apps, numpy: the start-up heap
    assert all(o is not kept for o in gc.get_objects())  # frozen: no collection walks it
    assert garbage_id not in {id(o) for o in gc.get_objects()}
    # A full collection walks only what came after: a new call's objects are still collected.
    later = Cycle()
    later_id = id(later)
    del later
    gc.collect()
    assert later_id not in {id(o) for o in gc.get_objects()}
    assert heap.settle() >= frozen  # again: later survivors join the frozen ones


def test_the_warm_up_settles_the_heap_last(thawed, settings, monkeypatch):
    settings.PRELOAD_SPEECH_MODELS = False
    settings.PREPARE_GREETINGS = True
    order: list[str] = []
    monkeypatch.setattr(warmup, "prepare_greetings", lambda: order.append("greetings"))
    monkeypatch.setattr(heap, "settle", lambda: order.append("settle") or 0)
    warmup.warm_up()
    assert order == ["greetings", "settle"]
