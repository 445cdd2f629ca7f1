"""How trajectories are gathered: episodes, the multi-turn collector, the Ray env workers, trajectory
records and their summary figures."""
