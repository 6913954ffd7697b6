"""nbgrader preprocessors of the course's autograder (loaded by grading/nbgrader_config.py).

- ``CappedExecute``: nbgrader's ``Execute`` that stops storing a cell's output once it passes
  ``max_output_chars`` characters of text (or ``max_image_chars`` of images), so that a
  submission that prints without end can neither fill the grader's memory nor produce a
  feedback page of gigabytes (nbgrader's ``LimitOutput`` only counts lines, after the run).
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


class CappedExecute(Execute):
    """nbgrader's ``Execute`` with a cap on the output kept per cell (text and images counted apart)."""

    max_output_chars = Integer(
        200_000,
        help="Characters of text output (streams, text/* data) kept per cell (-1: no limit). Errors are always kept.",
    ).tag(config=True)

    max_image_chars = Integer(
        5_000_000,
        help="Characters of other output (base64 images...) kept per cell (-1: no limit).",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        self._kept = {"text": 0, "other": 0}
        self._capped = False
        return super().preprocess_cell(cell, resources, cell_index)

    def output(self, outs, msg, display_id, cell_index):
        if msg.get("msg_type") == "error":
            return super().output(outs, msg, display_id, cell_index)
        content = msg.get("content", {})
        size = {"text": len(content.get("text", "")), "other": 0}
        for mime, value in (content.get("data") or {}).items():
            kind = "text" if mime.startswith("text/") else "other"
            size[kind] += len(value) if isinstance(value, str) else len(str(value))
        kept = getattr(self, "_kept", {"text": 0, "other": 0})
        limits = {"text": self.max_output_chars, "other": self.max_image_chars}
        if all(limits[k] < 0 or kept[k] + size[k] <= limits[k] for k in kept):
            for k in kept:
                kept[k] += size[k]
            self._kept = kept
            return super().output(outs, msg, display_id, cell_index)
        if not getattr(self, "_capped", False):
            self._capped = True
            notice = NotebookNode(
                output_type="stream",
                name="stdout",
                text=(f"\n[output truncated by the grader: more than {self.max_output_chars} characters of text "
                      f"or {self.max_image_chars} of images in this cell]\n"),
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
