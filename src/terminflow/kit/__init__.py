"""Domain-free building blocks: errors, secrets, clock, group commit, signing."""
