"""nbgrader configuration of the course (nbgrader 0.9).

scripts/release.py and scripts/grade.py build an nbgrader course folder (source/<assignment>/,
release/, submitted/, autograded/, feedback/, gradebook.db) under build/ and put a one-line
nbgrader_config.py there that loads this file, so that nbgrader run by hand in that folder
(``nbgrader formgrader``, ``nbgrader autograde``...) uses the same settings.
Values given on nbgrader's command line (the scripts' --timeout, ...) take precedence.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbgrader_extensions import CappedExecute, GradeCellOutputs  # noqa: E402  (this folder)

from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades,
)

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "vae-course"

# Student version: a solution region becomes this stub; hidden tests are removed.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograding: time limit per cell (seconds), interrupt a cell that runs past it and go on.
# (Set on Execute, not CappedExecute, so that --Execute.timeout on the command line applies.)
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.CappedExecute.max_output_chars = 200_000     # characters of text output kept per cell
c.CappedExecute.max_image_chars = 5_000_000    # characters of images (base64) kept per cell
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
# A test cell the student deleted comes back (with its hidden tests) instead of scoring nothing.
c.OverwriteCells.add_missing_cells = True

# nbgrader's autograde pipeline with Execute replaced by CappedExecute and GradeCellOutputs
# inserted before the scores are read.
c.Autograde.autograde_preprocessors = [
    CappedExecute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    GradeCellOutputs,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
