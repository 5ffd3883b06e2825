"""Static pages `k2 local up` serves (k2_devtools.dashboard)."""
