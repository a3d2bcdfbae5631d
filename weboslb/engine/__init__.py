"""The switch engine: the sans-IO core that decides, for each frame, what the switch does."""
