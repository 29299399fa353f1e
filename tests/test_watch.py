"""The file watcher goes on after a look that fails."""
import time

from api_router.watch import FileWatcher


def test_one_failing_look_does_not_stop_the_watcher():
    looks = []

    def boom():
        raise RuntimeError("a bad read")

    w = FileWatcher([boom, lambda: looks.append(1)], interval=0.01)
    w.start()
    try:
        time.sleep(0.5)
        seen = len(looks)
        time.sleep(0.5)
        assert len(looks) > seen > 0
    finally:
        w.stop()
