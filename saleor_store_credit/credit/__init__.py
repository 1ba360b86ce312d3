"""Customer credit management: limits, groups, blocking rules, order holds (SPEC §6)."""
