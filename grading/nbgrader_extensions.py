"""nbgrader preprocessors of the course's autograder (loaded by grading/nbgrader_config.py).

- ``CappedExecute``: nbgrader's ``Execute`` that stops storing a cell's output once it passes
  ``max_output_chars`` characters, so a submission that prints without end can neither fill the
  grader's memory nor produce a feedback page of gigabytes (nbgrader's ``LimitOutput`` only
  counts lines, and only after the run).
- ``GradeCellOutputs``: in autograded test cells, the only thing that costs points is an error.
  By default nbgrader also gives zero to a test cell that wrote anything to stderr (a harmless
  warning from a correct answer) and reads a number displayed by the cell as partial credit
  (a student who patches a check function to return 1e9 would break the grading of the whole
  notebook). This preprocessor turns stderr into stdout (kept, marked ``[stderr]``) and a
  displayed value into plain display output, before ``SaveAutoGrades`` reads the outputs.
"""
from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Integer

__all__ = ["CappedExecute", "GradeCellOutputs"]


def _output_size(out) -> int:
    """Characters an output holds (stream text, error text or the payloads of a mime bundle)."""
    kind = out.get("output_type")
    if kind == "stream":
        return len(out.get("text", ""))
    if kind == "error":
        return len(out.get("evalue", "")) + sum(len(line) for line in out.get("traceback", []))
    data = out.get("data", {})
    return sum(len(v) if isinstance(v, str) else len(str(v)) for v in data.values())


class CappedExecute(Execute):
    """nbgrader's ``Execute`` with a cap on the characters of output kept per cell."""

    max_output_chars = Integer(
        200_000,
        help="Characters of output kept per cell (-1: no limit). Errors are always kept.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        self._kept_chars = 0
        self._capped = False
        return super().preprocess_cell(cell, resources, cell_index)

    def output(self, outs, msg, display_id, cell_index):
        if self.max_output_chars < 0 or msg.get("msg_type") == "error":
            return super().output(outs, msg, display_id, cell_index)
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(
            len(v) if isinstance(v, str) else len(str(v)) for v in content.get("data", {}).values()
        )
        kept = getattr(self, "_kept_chars", 0)
        if kept + size <= self.max_output_chars:
            self._kept_chars = kept + size
            return super().output(outs, msg, display_id, cell_index)
        if not getattr(self, "_capped", False):
            self._capped = True
            notice = NotebookNode(
                output_type="stream",
                name="stdout",
                text=f"\n[output truncated by the grader: more than {self.max_output_chars} characters]\n",
            )
            outs.append(notice)
            return notice
        return None


class GradeCellOutputs(NbGraderPreprocessor):
    """Make an error the only thing that costs a test cell its points (see the module docstring)."""

    stderr_fails = Bool(False, help="Keep nbgrader's rule: output on stderr gives zero points.").tag(config=True)
    partial_credit = Bool(False, help="Keep nbgrader's rule: a displayed number is partial credit.").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stderr" and not self.stderr_fails:
                out = NotebookNode(output_type="stream", name="stdout", text="[stderr] " + out.text)
            elif out.output_type == "execute_result" and not self.partial_credit:
                out = NotebookNode(output_type="display_data", data=out.data, metadata=out.get("metadata", {}))
            outputs.append(out)
        cell.outputs = outputs
        return cell, resources
