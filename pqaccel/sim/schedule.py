"""What the engine testbenches share, whatever simulator runs them (cocotb on the emitted
Verilog, the Amaranth simulator on the design): the order of table writes, commits and input
rows of layers run back to back, and how cycles per row are measured.  Pure Python.

The commit rule: layer ``j``'s table writes go in as soon as the port takes them (into the
shadow bank, while layer ``j - 1`` computes), but its commit waits until layer ``j - 1``'s
last input beat has been accepted, and layer ``j``'s rows are fed only after its commit; so
every row reads the tables of its own layer.
"""

__all__ = ["may_commit", "Schedule", "steady_cycles_per_row", "first_row_latency"]


def may_commit(j, fed):
    """The commit rule: job ``j`` may commit once job ``j - 1`` has been fed completely
    (``fed``: one flag per job)."""
    return j == 0 or fed[j - 1]


class Schedule:
    """Progress of ``jobs`` (:class:`pqaccel.jobs.Job` and the like) through the commit rule.

    The writer calls :meth:`may_commit` before a job's last write (its commit) and
    :meth:`committed` after it; the feeder :meth:`may_feed` before a job's first beat and
    :meth:`fed` after its last.
    """

    def __init__(self, jobs):
        self.jobs = jobs
        self._committed = [False] * len(jobs)
        self._fed = [False] * len(jobs)

    def may_commit(self, j):
        return may_commit(j, self._fed)

    def committed(self, j):
        self._committed[j] = True

    def may_feed(self, j):
        return self._committed[j]

    def fed(self, j):
        self._fed[j] = True

    def cycle_budget(self, slack=10000):
        """Cycles after which a run that has not finished counts as hung."""
        return sum(job.cycle_budget for job in self.jobs) + slack


def steady_cycles_per_row(job, out_cycles):
    """Cycles per row in steady state: from the middle row's last output beat to the final
    row's, so that the drain of the previous layer (whose outputs may have been held back)
    does not count.  ``out_cycles``: the cycle of each of the job's output beats.  None with
    fewer than two rows."""
    ends = out_cycles[job.mt - 1 :: job.mt]
    if len(ends) < 2:
        return None
    half = len(ends) // 2
    return (ends[-1] - ends[half - 1]) / (len(ends) - half)


def first_row_latency(job, in_cycles, out_cycles):
    """Cycles from the first row's last input beat to its last output beat (None if none)."""
    if len(out_cycles) < job.mt or len(in_cycles) < job.g:
        return None
    return out_cycles[job.mt - 1] - in_cycles[job.g - 1]
