"""Release and autograding of the course exercises with nbgrader (see README, "Teaching with this course")."""
