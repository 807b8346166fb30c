"""The windows of one split, cut per feature set on first use and kept for the next model on the same inputs."""

from __future__ import annotations

from device.contract import FillPolicy, WindowSpec
from train.data import Split
from train.windows import SplitWindows, cut_windows


class WindowsByFeatures:
    """``windows(features)``: the split's :class:`SplitWindows` for those inputs. ``keep`` bounds how many feature
    sets stay in memory (the full file's windows take about a gigabyte each); None keeps them all."""

    def __init__(
        self,
        split: Split,
        seq_len: int,
        horizon: int,
        fill_policy: FillPolicy = FillPolicy.FORWARD_FILL,
        keep: int | None = None,
    ) -> None:
        self.split, self.seq_len, self.horizon, self.fill_policy, self.keep = split, seq_len, horizon, fill_policy, keep
        self._cut: dict[tuple[str, ...], SplitWindows] = {}

    def __call__(self, features: tuple[str, ...]) -> SplitWindows:
        if features not in self._cut:
            if self.keep is not None and len(self._cut) >= self.keep:
                self._cut.pop(next(iter(self._cut)))
            spec = WindowSpec(self.seq_len, self.horizon, features, self.fill_policy)
            self._cut[features] = cut_windows(self.split.series, self.split.train, self.split.test, spec)
        return self._cut[features]
