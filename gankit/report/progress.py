"""What training shows on the terminal: a progress bar and, when verbose, one line per log record.

The bar (tqdm) shows iterations done, iterations per second, the elapsed
time and the ETA, and the last logged d_loss and g_loss. It is drawn only on
a terminal unless asked for; ``verbose`` also prints every metrics.jsonl
record as one line (through ``tqdm.write``, so the bar is not torn), on a
terminal or not. Nothing here touches the metrics: metrics.jsonl is written
by the loop.
"""

from __future__ import annotations

import math
from typing import Any

# {rate_fmt} is iterations per second, {remaining} the ETA; spelled out so they never drop out of the bar.
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def format_record(record: dict[str, Any], total: int) -> str:
    """One metrics record as one line: ``it 200/2000  d_loss -0.1234  g_loss 0.5678  ...  wall 3.2 s``."""
    parts = [f"it {record.get('iteration', '?')}/{total}"]
    for key, value in record.items():
        if key in ("iteration", "wall_seconds"):
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    if "wall_seconds" in record:
        parts.append(f"wall {record['wall_seconds']:.1f} s")
    return "  ".join(parts)


class Progress:
    """The progress bar of one run, and the verbose record lines.

    Args:
        total: iterations of the run.
        initial: iterations already done (resume).
        desc: the bar's label.
        show: draw the bar (None: only on a terminal).
        verbose: also print each log record as one line.
    """

    def __init__(self, total: int, initial: int = 0, *, desc: str = "", show: bool | None = None,
                 verbose: bool = False) -> None:
        from tqdm.auto import tqdm

        self.total, self.verbose, self._tqdm = total, verbose, tqdm
        self.bar = tqdm(total=total, initial=initial, disable=None if show is None else not show, desc=desc,
                        unit="it", dynamic_ncols=True, leave=True, bar_format=BAR_FORMAT)

    def update(self, iteration: int) -> None:
        """Move the bar to ``iteration``."""
        self.bar.update(iteration - self.bar.n)

    def log(self, record: dict[str, Any]) -> None:
        """Show a metrics record: the losses on the bar, the whole record as a line when verbose."""
        self.bar.set_postfix(d_loss=f"{record.get('d_loss', math.nan):.3f}",
                             g_loss=f"{record.get('g_loss', math.nan):.3f}", refresh=False)
        if self.verbose:
            self._tqdm.write(format_record(record, self.total))

    def close(self) -> None:
        self.bar.close()
