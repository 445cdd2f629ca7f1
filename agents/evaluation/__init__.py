"""How runs are judged against each other: bootstrap intervals over seeds and tasks, and a
comparison's report."""
