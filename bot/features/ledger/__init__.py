"""Splitting the bill (issue 12): money in minor units, equal splits, settling a room."""
