"""What the agent keeps and writes: state, metrics, prediction log, recording."""
