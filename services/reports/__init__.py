"""Figures an office reports upward: the monthly report (月报)."""
